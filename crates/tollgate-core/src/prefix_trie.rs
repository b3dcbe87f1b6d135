//! A byte trie over route path prefixes, so a lookup walks the request path
//! once instead of testing every route's prefix (10,000 routes would be
//! 10,000 `starts_with` per request).
//!
//! Each node lists the candidates whose prefix ends there, in the route
//! table's precedence order; deeper nodes are longer prefixes, so visiting the
//! nodes on the path deepest first gives exactly the order of a scan over the
//! sorted candidate list.

#[derive(Debug, Clone, Default)]
struct Node {
    /// (next byte, child node), sorted by byte.
    children: Vec<(u8, u32)>,
    /// Candidate indexes whose prefix ends at this node, in precedence order.
    cands: Vec<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct PrefixTrie {
    nodes: Vec<Node>,
}

impl Default for PrefixTrie {
    fn default() -> Self {
        PrefixTrie {
            nodes: vec![Node::default()],
        }
    }
}

/// Prefix nodes remembered per lookup without allocating; a path crossing
/// more prefix ends than this is answered by the caller's fallback scan.
pub(crate) const MAX_HITS: usize = 32;

impl PrefixTrie {
    /// Adds candidate `cand` for `prefix`. Call in precedence order.
    pub fn insert(&mut self, prefix: &str, cand: u32) {
        let mut at = 0usize;
        for &b in prefix.as_bytes() {
            let children = &self.nodes[at].children;
            at = match children.binary_search_by_key(&b, |&(k, _)| k) {
                Ok(i) => children[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len();
                    self.nodes.push(Node::default());
                    self.nodes[at].children.insert(i, (b, id as u32));
                    id
                }
            };
        }
        self.nodes[at].cands.push(cand);
    }

    /// The candidate lists of every prefix of `path`, shortest first, in
    /// `hits[..n]`; `None` when there were more than [`MAX_HITS`].
    pub fn prefixes_of<'t>(
        &'t self,
        path: &str,
        hits: &mut [&'t [u32]; MAX_HITS],
    ) -> Option<usize> {
        let mut n = 0;
        let mut at = 0usize;
        let mut push = |node: &'t Node, n: &mut usize| -> bool {
            if node.cands.is_empty() {
                return true;
            }
            if *n == MAX_HITS {
                return false;
            }
            hits[*n] = &node.cands;
            *n += 1;
            true
        };
        if !push(&self.nodes[0], &mut n) {
            return None;
        }
        for &b in path.as_bytes() {
            let children = &self.nodes[at].children;
            match children.binary_search_by_key(&b, |&(k, _)| k) {
                Ok(i) => at = children[i].1 as usize,
                Err(_) => break,
            }
            if !push(&self.nodes[at], &mut n) {
                return None;
            }
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_in_order() {
        let mut t = PrefixTrie::default();
        for (i, p) in ["/api/v2", "/api", "", "/api", "/b"].iter().enumerate() {
            t.insert(p, i as u32);
        }
        let mut hits: [&[u32]; MAX_HITS] = [&[]; MAX_HITS];
        let n = t.prefixes_of("/api/v2/x", &mut hits).expect("fits");
        assert_eq!(&hits[..n], &[&[2u32][..], &[1, 3], &[0]]);
        let n = t.prefixes_of("/c", &mut hits).expect("fits");
        assert_eq!(&hits[..n], &[&[2u32][..]]);
    }
}
