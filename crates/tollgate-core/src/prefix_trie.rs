//! A radix tree over route path prefixes, so a lookup walks the request path
//! once instead of testing every route's prefix (10,000 routes would be
//! 10,000 `starts_with` per request).
//!
//! Built as a byte trie, then compressed: chains of nodes that branch nowhere
//! and end no prefix become one edge label, and each node (label, child first
//! bytes, child offsets, candidate values) is packed into one byte arena. A
//! lookup compares whole labels and visits only branching points, touching
//! about one cache line per node instead of one heap node per byte. Each node
//! is a load that depends on the one before, so a lookup costs about the
//! number of nodes on the path times what one node takes to find its child:
//! that search does not branch on the bytes it compares.
//!
//! Each node lists the candidates whose prefix ends there, in the route
//! table's precedence order; deeper nodes are longer prefixes, so visiting the
//! nodes on the path deepest first gives exactly the order of a scan over the
//! sorted candidate list.

use crate::path_words::{byte_position, le64};

/// Prefix nodes remembered per lookup without allocating; a path crossing
/// more prefix ends than this is answered by the caller's fallback scan.
pub(crate) const MAX_HITS: usize = 32;

/// The byte trie the radix tree is compressed from.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrieBuilder {
    nodes: Vec<ByteNode>,
}

#[derive(Debug, Clone, Default)]
struct ByteNode {
    /// (next byte, child node), sorted by byte.
    children: Vec<(u8, u32)>,
    /// The values of the candidates whose prefix ends at this node, in precedence order.
    cands: Vec<Value>,
}

impl TrieBuilder {
    /// Adds a candidate's value for `prefix`. Call in precedence order.
    pub fn insert(&mut self, prefix: &str, cand: Value) {
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

    /// The compressed, packed form used for lookups.
    pub fn build(self) -> PrefixTrie {
        let mut t = PrefixTrie::default();
        if self.nodes.is_empty() {
            t.push_node(&[], &[], &[]);
            t.pad();
            return t;
        }
        // Explicit stack: prefixes may be long, recursion depth is not bounded.
        // Each entry: (byte-trie node a label ends at, its label, where the
        // parent keeps the child's offset — patched once the child is written).
        // The root takes the chain below it as its own label (every route path
        // starts with `/`, often with more in common): one node less per lookup.
        let (mut root, mut root_label) = (0, Vec::new());
        while self.nodes[root].cands.is_empty() && self.nodes[root].children.len() == 1 {
            let (b, next) = self.nodes[root].children[0];
            root_label.push(b);
            root = next as usize;
        }
        let mut stack: Vec<(usize, Vec<u8>, Option<usize>)> = vec![(root, root_label, None)];
        while let Some((bnode, label, slot)) = stack.pop() {
            let src = &self.nodes[bnode];
            // Each child's label: follow the chain while it neither branches
            // nor ends a prefix.
            let mut kids = Vec::with_capacity(src.children.len());
            for &(byte, child) in &src.children {
                let mut label = vec![byte];
                let mut end = child as usize;
                while self.nodes[end].cands.is_empty() && self.nodes[end].children.len() == 1 {
                    let (b, next) = self.nodes[end].children[0];
                    label.push(b);
                    end = next as usize;
                }
                kids.push((byte, end, label));
            }
            let firsts: Vec<u8> = kids.iter().map(|k| k.0).collect();
            let (at, slots) = t.push_node(&label, &firsts, &src.cands);
            if let Some(slot) = slot {
                t.put_u32(slot, at as u32);
            }
            // Pushed in reverse so the first child is written right after its parent.
            for ((_, end, label), slot) in kids.into_iter().zip(slots).rev() {
                stack.push((end, label, Some(slot)));
            }
        }
        t.pad();
        t
    }
}

/// What the trie keeps per candidate: the caller's words, stored inline after
/// the node so that deciding a candidate touches no other memory.
pub(crate) type Value = [u32; 4];

const VALUE_BYTES: usize = 16;

/// Bytes of a node's fixed header: label length, child count, candidate count.
const HEADER: usize = 12;

/// Where one node's candidates are in the arena: `len` values from `at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Hit {
    at: u32,
    len: u32,
}

/// The radix tree, every node packed into one byte arena so that a node's
/// label, child first bytes and child offsets share its cache lines:
///
/// `[label_len u32][n_kids u32][n_cands u32][label][first bytes][pad to 4][child offsets u32 …][candidate values …]`
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixTrie {
    arena: Vec<u8>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl PrefixTrie {
    /// Appends a node; returns its offset and the offsets of its child slots.
    fn push_node(&mut self, label: &[u8], firsts: &[u8], cands: &[Value]) -> (usize, Vec<usize>) {
        let at = self.arena.len();
        for v in [label.len(), firsts.len(), cands.len()] {
            self.arena.extend_from_slice(&(v as u32).to_le_bytes());
        }
        self.arena.extend_from_slice(label);
        self.arena.extend_from_slice(firsts);
        self.arena.resize(align4(self.arena.len()), 0);
        let slots = (0..firsts.len())
            .map(|i| self.arena.len() + 4 * i)
            .collect();
        self.arena.resize(self.arena.len() + 4 * firsts.len(), 0);
        for c in cands.iter().flatten() {
            self.arena.extend_from_slice(&c.to_le_bytes());
        }
        (at, slots)
    }

    /// Room past the last node, so that word-wide reads of its first bytes
    /// or label stay inside the arena (they fall back to slices otherwise).
    fn pad(&mut self) {
        self.arena.resize(self.arena.len() + 16, 0);
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        if let Some(dst) = self.arena.get_mut(at..at + 4) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }

    fn u32_at(&self, at: usize) -> Option<usize> {
        let b = self.arena.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// The candidates of one prefix, in precedence order.
    pub fn cands(&self, h: Hit) -> impl DoubleEndedIterator<Item = Value> + '_ {
        let at = h.at as usize;
        self.arena
            .get(at..at + VALUE_BYTES * h.len as usize)
            .unwrap_or(&[])
            .chunks_exact(VALUE_BYTES)
            .map(|b| [le32(b, 0), le32(b, 4), le32(b, 8), le32(b, 12)].map(|w| w as u32))
    }

    /// The candidate lists of every prefix of `path`, shortest first, in
    /// `hits[..n]`; `None` when there were more than [`MAX_HITS`].
    pub fn prefixes_of(&self, path: &str, hits: &mut [Hit; MAX_HITS]) -> Option<usize> {
        let path = path.as_bytes();
        let mut n = 0;
        let node_label = self.u32_at(0).unwrap_or(0);
        // Every other label's first byte is matched by its parent; the root's is not.
        if node_label > 0 && !self.label_matches(HEADER, node_label, path) {
            return Some(0);
        }
        let mut pos = node_label;
        let mut node = 0usize;
        while let Some(head) = self.arena.get(node..node + HEADER) {
            let label_len = le32(head, 0);
            let n_kids = le32(head, 4);
            let n_cands = le32(head, 8);
            let firsts_at = node + HEADER + label_len;
            let kids_at = align4(firsts_at + n_kids);
            if n_cands > 0 {
                if n == MAX_HITS {
                    return None;
                }
                hits[n] = Hit {
                    at: (kids_at + 4 * n_kids) as u32,
                    len: n_cands as u32,
                };
                n += 1;
            }
            let Some(&b) = path.get(pos) else { break };
            let Some(child) = self
                .kid_index(firsts_at, n_kids, b)
                .and_then(|i| self.u32_at(kids_at + 4 * i))
            else {
                break;
            };
            let Some(len) = self.u32_at(child) else { break };
            // The first byte was just matched; most branching labels are one byte.
            if len > 1 && !self.label_matches(child + HEADER, len, &path[pos..]) {
                break;
            }
            pos += len;
            node = child;
        }
        Some(n)
    }

    /// Which of a node's `n_kids` children starts with `b`. Up to 16 first
    /// bytes are searched without branching on their values: a lookup over
    /// scattered paths would mispredict a scan or a binary search at every node.
    fn kid_index(&self, firsts_at: usize, n_kids: usize, b: u8) -> Option<usize> {
        if n_kids <= 16 {
            if let Some(w) = self.arena.get(firsts_at..firsts_at + 16) {
                let lo = byte_position(le64(w, 0), b);
                let hi = byte_position(le64(w, 8), b);
                let i = if lo < 8 { lo } else { 8 + hi };
                return (i < n_kids).then_some(i);
            }
        }
        let firsts = self.arena.get(firsts_at..firsts_at + n_kids)?;
        firsts.binary_search(&b).ok()
    }

    /// Whether the label of `len` bytes at `at` starts `rest`; labels of up to
    /// 8 bytes are compared as one word rather than through `memcmp`.
    fn label_matches(&self, at: usize, len: usize, rest: &[u8]) -> bool {
        if len <= 8 {
            if let (Some(l), Some(p)) = (self.arena.get(at..at + 8), rest.get(..8)) {
                let mask = u64::MAX >> (64 - 8 * len);
                return (le64(l, 0) ^ le64(p, 0)) & mask == 0;
            }
        }
        self.arena
            .get(at..at + len)
            .is_some_and(|label| rest.starts_with(label))
    }
}

fn le32(b: &[u8], at: usize) -> usize {
    let mut w = [0; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trie(prefixes: &[&str]) -> PrefixTrie {
        let mut b = TrieBuilder::default();
        for (i, p) in prefixes.iter().enumerate() {
            b.insert(p, [i as u32, 0, 0, 0]);
        }
        b.build()
    }

    /// The candidate lists found for `path`, shortest prefix first.
    fn lists(t: &PrefixTrie, path: &str) -> Vec<Vec<u32>> {
        let mut hits = [Hit::default(); MAX_HITS];
        let n = t.prefixes_of(path, &mut hits).expect("fits");
        hits[..n]
            .iter()
            .map(|&h| t.cands(h).map(|v| v[0]).collect())
            .collect()
    }

    #[test]
    fn prefixes_in_order() {
        let t = trie(&["/api/v2", "/api", "", "/api", "/b"]);
        assert_eq!(lists(&t, "/api/v2/x"), vec![vec![2], vec![1, 3], vec![0]]);
        assert_eq!(lists(&t, "/c"), vec![vec![2]]);
    }

    #[test]
    fn labels_end_inside_the_path_or_past_it() {
        let t = trie(&["/billing/invoices", "/billing/items", "/b"]);
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
            let want: Vec<Vec<u32>> = want.iter().map(|l| l.to_vec()).collect();
            assert_eq!(lists(&t, path), want, "{path}");
        }
    }

    #[test]
    fn the_root_label_is_checked_whole() {
        // No prefix ends before "/api/v": the root holds that much as its label.
        let t = trie(&["/api/v1", "/api/v2", "/api/v2/users/long-label"]);
        let cases: &[(&str, &[&[u32]])] = &[
            ("/api/v1/x", &[&[0]]),
            ("/api/v2/users/long-label", &[&[1], &[2]]),
            ("/api/v2/users/long-labe", &[&[1]]),
            ("/api/v3", &[]),
            ("/api/", &[]),
            ("/apx/v1", &[]),
            ("xapi/v1", &[]),
            ("/", &[]),
        ];
        for (path, want) in cases {
            let want: Vec<Vec<u32>> = want.iter().map(|l| l.to_vec()).collect();
            assert_eq!(lists(&t, path), want, "{path}");
        }
    }

    #[test]
    fn every_child_is_found_at_every_fan_out() {
        // Both words of the branch-free search, its edge at 16, and the
        // binary search past it; every other byte is absent.
        for kids in [1usize, 2, 7, 8, 9, 15, 16, 17, 30] {
            let names: Vec<String> = (0..kids)
                .map(|i| format!("/{}", (b'A' + 2 * i as u8) as char))
                .collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let t = trie(&refs);
            for (i, p) in refs.iter().enumerate() {
                assert_eq!(
                    lists(&t, &format!("{p}x")),
                    vec![vec![i as u32]],
                    "{kids}: {p}"
                );
            }
            for b in
                (0..=255u8).filter(|b| !(b'A'..b'A' + 2 * kids as u8).step_by(2).any(|k| k == *b))
            {
                let path = [b'/', b, b'x'];
                let path = String::from_utf8_lossy(&path);
                assert_eq!(lists(&t, &path), Vec::<Vec<u32>>::new(), "{kids}: {b}");
            }
        }
    }

    #[test]
    fn many_children_use_binary_search() {
        let names: Vec<String> = (0..40u8)
            .map(|i| format!("/{}", (b'A' + i) as char))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let t = trie(&refs);
        for (i, p) in refs.iter().enumerate() {
            assert_eq!(lists(&t, &format!("{p}/x")), vec![vec![i as u32]], "{p}");
        }
    }

    #[test]
    fn too_many_prefixes_ask_for_the_fallback() {
        let prefixes: Vec<String> = (0..=MAX_HITS).map(|n| "a".repeat(n)).collect();
        let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        let t = trie(&refs);
        let mut hits = [Hit::default(); MAX_HITS];
        assert_eq!(t.prefixes_of(&"a".repeat(MAX_HITS + 5), &mut hits), None);
        assert_eq!(
            t.prefixes_of(&"a".repeat(MAX_HITS - 1), &mut hits),
            Some(MAX_HITS)
        );
    }

    #[test]
    fn empty_trie_finds_nothing() {
        let t = TrieBuilder::default().build();
        let mut hits = [Hit::default(); MAX_HITS];
        assert_eq!(t.prefixes_of("/x", &mut hits), Some(0));
    }
}
