//! A radix tree over route path prefixes, so a lookup walks the request path
//! once instead of testing every route's prefix (10,000 routes would be
//! 10,000 `starts_with` per request).
//!
//! Built as a byte trie, then compressed: chains of nodes that branch nowhere
//! and end no prefix become one edge label, and every node, label, child list
//! and candidate list lives in one of four flat arrays. A lookup compares
//! whole labels and visits only branching points, touching a few cache lines
//! instead of one heap node per byte.
//!
//! Each node lists the candidates whose prefix ends there, in the route
//! table's precedence order; deeper nodes are longer prefixes, so visiting the
//! nodes on the path deepest first gives exactly the order of a scan over the
//! sorted candidate list.

/// Prefix nodes remembered per lookup without allocating; a path crossing
/// more prefix ends than this is answered by the caller's fallback scan.
pub(crate) const MAX_HITS: usize = 32;

/// Children searched by a linear scan of their first bytes up to this many;
/// binary search above.
const LINEAR_KIDS: usize = 8;

/// The byte trie the radix tree is compressed from.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrieBuilder {
    nodes: Vec<ByteNode>,
}

#[derive(Debug, Clone, Default)]
struct ByteNode {
    /// (next byte, child node), sorted by byte.
    children: Vec<(u8, u32)>,
    /// Candidate indexes whose prefix ends at this node, in precedence order.
    cands: Vec<u32>,
}

impl TrieBuilder {
    /// Adds candidate `cand` for `prefix`. Call in precedence order.
    pub fn insert(&mut self, prefix: &str, cand: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(ByteNode::default());
        }
        let mut at = 0usize;
        for &b in prefix.as_bytes() {
            let children = &self.nodes[at].children;
            at = match children.binary_search_by_key(&b, |&(k, _)| k) {
                Ok(i) => children[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len();
                    self.nodes.push(ByteNode::default());
                    self.nodes[at].children.insert(i, (b, id as u32));
                    id
                }
            };
        }
        self.nodes[at].cands.push(cand);
    }

    /// The compressed, flat form used for lookups.
    pub fn build(self) -> PrefixTrie {
        let mut t = PrefixTrie::default();
        if self.nodes.is_empty() {
            t.nodes.push(Node::default());
            return t;
        }
        // Explicit stack: prefixes may be long, recursion depth is not bounded.
        // Each entry: (byte-trie node the label ends at, radix node to fill).
        t.nodes.push(Node::default());
        let mut stack = vec![(0usize, 0usize)];
        while let Some((bnode, rnode)) = stack.pop() {
            let src = &self.nodes[bnode];
            t.nodes[rnode].cands = span(t.cands.len(), src.cands.len());
            t.cands.extend_from_slice(&src.cands);
            t.nodes[rnode].kids = span(t.kids.len(), src.children.len());
            let first_kid = t.kids.len();
            for &(byte, child) in &src.children {
                // Follow the chain while it neither branches nor ends a prefix.
                let label_start = t.labels.len();
                t.labels.push(byte);
                let mut end = child as usize;
                while self.nodes[end].cands.is_empty() && self.nodes[end].children.len() == 1 {
                    let (b, next) = self.nodes[end].children[0];
                    t.labels.push(b);
                    end = next as usize;
                }
                let id = t.nodes.len();
                t.nodes.push(Node {
                    label: span(label_start, t.labels.len() - label_start),
                    ..Node::default()
                });
                t.kids.push(id as u32);
                t.kid_first.push(byte);
                stack.push((end, id));
            }
            debug_assert_eq!(t.kids.len() - first_kid, src.children.len());
        }
        t
    }
}

/// A `start..start+len` range into one of the flat arrays.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

fn span(start: usize, len: usize) -> Span {
    Span {
        start: start as u32,
        len: len as u32,
    }
}

impl Span {
    fn of<T>(self, v: &[T]) -> &[T] {
        let s = self.start as usize;
        v.get(s..s + self.len as usize).unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Node {
    /// The edge label leading into this node (empty at the root).
    label: Span,
    /// Children, in `kids`/`kid_first`, sorted by their label's first byte.
    kids: Span,
    /// Candidates whose prefix ends here, in `cands`.
    cands: Span,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixTrie {
    nodes: Vec<Node>,
    labels: Vec<u8>,
    kids: Vec<u32>,
    /// First label byte of each entry of `kids`, scanned to pick a child.
    kid_first: Vec<u8>,
    cands: Vec<u32>,
}

impl PrefixTrie {
    /// The candidate lists of every prefix of `path`, shortest first, in
    /// `hits[..n]`; `None` when there were more than [`MAX_HITS`].
    pub fn prefixes_of<'t>(
        &'t self,
        path: &str,
        hits: &mut [&'t [u32]; MAX_HITS],
    ) -> Option<usize> {
        let path = path.as_bytes();
        let mut n = 0;
        let mut pos = 0;
        let Some(mut node) = self.nodes.first() else {
            return Some(0);
        };
        loop {
            if node.cands.len > 0 {
                if n == MAX_HITS {
                    return None;
                }
                hits[n] = node.cands.of(&self.cands);
                n += 1;
            }
            let Some(&b) = path.get(pos) else { break };
            let firsts = node.kids.of(&self.kid_first);
            let found = if firsts.len() <= LINEAR_KIDS {
                firsts.iter().position(|&f| f == b)
            } else {
                firsts.binary_search(&b).ok()
            };
            let Some(child) = found
                .and_then(|i| node.kids.of(&self.kids).get(i))
                .and_then(|&k| self.nodes.get(k as usize))
            else {
                break;
            };
            let label = child.label.of(&self.labels);
            if !path[pos..].starts_with(label) {
                break;
            }
            pos += label.len();
            node = child;
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trie(prefixes: &[&str]) -> PrefixTrie {
        let mut b = TrieBuilder::default();
        for (i, p) in prefixes.iter().enumerate() {
            b.insert(p, i as u32);
        }
        b.build()
    }

    #[test]
    fn prefixes_in_order() {
        let t = trie(&["/api/v2", "/api", "", "/api", "/b"]);
        let mut hits: [&[u32]; MAX_HITS] = [&[]; MAX_HITS];
        let n = t.prefixes_of("/api/v2/x", &mut hits).expect("fits");
        assert_eq!(&hits[..n], &[&[2u32][..], &[1, 3], &[0]]);
        let n = t.prefixes_of("/c", &mut hits).expect("fits");
        assert_eq!(&hits[..n], &[&[2u32][..]]);
    }

    #[test]
    fn labels_end_inside_the_path_or_past_it() {
        let t = trie(&["/billing/invoices", "/billing/items", "/b"]);
        let mut hits: [&[u32]; MAX_HITS] = [&[]; MAX_HITS];
        let cases: &[(&str, &[&[u32]])] = &[
            ("/billing/invoices/7", &[&[2], &[0]]),
            ("/billing/items", &[&[2], &[1]]),
            ("/billing/i", &[&[2]]),
            ("/billing/invoice", &[&[2]]),
            ("/billingX", &[&[2]]),
            ("/", &[]),
            ("", &[]),
        ];
        for (path, want) in cases {
            let n = t.prefixes_of(path, &mut hits).expect("fits");
            assert_eq!(&hits[..n], *want, "{path}");
        }
    }

    #[test]
    fn many_children_use_binary_search() {
        let names: Vec<String> = (0..40u8)
            .map(|i| format!("/{}", (b'A' + i) as char))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let t = trie(&refs);
        let mut hits: [&[u32]; MAX_HITS] = [&[]; MAX_HITS];
        for (i, p) in refs.iter().enumerate() {
            let n = t.prefixes_of(&format!("{p}/x"), &mut hits).expect("fits");
            assert_eq!(&hits[..n], &[&[i as u32][..]], "{p}");
        }
    }

    #[test]
    fn empty_trie_finds_nothing() {
        let t = TrieBuilder::default().build();
        let mut hits: [&[u32]; MAX_HITS] = [&[]; MAX_HITS];
        assert_eq!(t.prefixes_of("/x", &mut hits), Some(0));
    }
}
