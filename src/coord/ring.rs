//! Target ownership: rendezvous (highest-random-weight, HRW) hashing of target keys over
//! the cluster members (DESIGN.md, "The ring").
//!
//! # The hash is a protocol between replicas
//!
//! Every replica computes the owners of every target on its own, so all of them must
//! compute exactly the same thing from the same member set. The definitions below are
//! fixed; changing any of them is an incompatible protocol change (the golden values in
//! the tests pin them, and were computed outside this code).
//!
//! - **Target key**: a `u64` given by the caller (`Target::key()`: xxh3 of the target's
//!   public labels and scrape URL); used here as is.
//! - **Member id**: the member's advertise address `host:port`, a UTF-8 string, compared
//!   bytewise. A ring holds each id once; the order in which ids were listed is irrelevant.
//! - **Member seed**: `xxh3_64(id)`, XXH3 64-bit over the id's UTF-8 bytes, seed 0, default
//!   secret ([`member_seed`]).
//! - **Score**: `fmix64(key ^ seed)`, the MurmurHash3 64-bit finalizer with wrapping
//!   multiplication ([`score`]):
//!   `x ^= x >> 33; x *= 0xff51afd7ed558ccd; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53; x ^= x >> 33`.
//! - **Ranking** of the members for a key: higher score first; equal scores, the member
//!   with the bytewise-smaller id first. fmix64 is a bijection, so two members only tie
//!   when their seeds collide.
//! - **Owners** with replication factor R: the first `min(R, members)` members of the
//!   ranking. The first is the primary owner.
//! - **View hash** ([`Ring::view_hash`]): `xxh3_64` of the sorted ids joined by a single
//!   `0xff` byte (none before the first or after the last; the empty ring hashes zero
//!   bytes). `0xff` never occurs in UTF-8, so distinct member sets give distinct inputs.
//!   Two replicas with the same view hash compute the same owners.
//!
//! Member indices returned here index [`Ring::members`], which is sorted by id, so a
//! smaller index is a smaller id (the tie-break).

use xxhash_rust::xxh3::xxh3_64;

/// Separates ids in the view-hash input; never part of a UTF-8 string.
const VIEW_SEPARATOR: u8 = 0xff;

/// Keys scored together in one pass over the members by [`Ring::assign_all`]: independent
/// multiply chains keep the multiplier busy and each seed is loaded once per block
/// (4 and 8 measure the same; more spills registers).
const KEYS_PER_PASS: usize = 4;

/// The seed of a member: `xxh3_64` of its id's bytes.
pub fn member_seed(id: &str) -> u64 {
    xxh3_64(id.as_bytes())
}

/// The HRW score of a target for a member: MurmurHash3's fmix64 of `target_key ^ member_seed`.
#[inline]
pub fn score(target_key: u64, member_seed: u64) -> u64 {
    finish(premix(target_key) ^ premix(member_seed))
}

// fmix64 split for the hot loops. Its first step, `x ^= x >> 33`, is linear over XOR, so
// `premix(k ^ s) == premix(k) ^ premix(s)`: it is applied once per key and once per
// member instead of once per pair. `finish` is the rest of fmix64.

#[inline(always)]
fn premix(x: u64) -> u64 {
    x ^ (x >> 33)
}

#[inline(always)]
fn finish(mut x: u64) -> u64 {
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// The members of a view, sorted by id, with their seeds precomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// Sorted, distinct ids.
    members: Vec<String>,
    /// `premix(member_seed(&members[i]))`, contiguous for the scoring loops.
    mixed_seeds: Vec<u64>,
    view_hash: u64,
}

impl Ring {
    /// A ring of these members; duplicates are dropped and the order is irrelevant.
    ///
    /// # Panics
    /// With more than `u32::MAX` distinct members (indices are stored as `u32`).
    pub fn new<I, S>(members: I) -> Ring
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut members: Vec<String> = members.into_iter().map(Into::into).collect();
        members.sort_unstable();
        members.dedup();
        assert!(
            u32::try_from(members.len()).is_ok(),
            "a ring holds at most u32::MAX members"
        );
        let mixed_seeds = members.iter().map(|id| premix(member_seed(id))).collect();
        let view_hash = view_hash_of(&members);
        Ring {
            members,
            mixed_seeds,
            view_hash,
        }
    }

    /// The member ids, sorted bytewise; owner indices index this slice.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The index of a member id, if it is in the ring.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.members.binary_search_by(|m| m.as_str().cmp(id)).ok()
    }

    /// Identifies the member set: xxh3_64 of the sorted ids joined by `0xff`.
    pub fn view_hash(&self) -> u64 {
        self.view_hash
    }

    /// How many owners each key has with replication factor `r`: `min(r, len)`.
    pub fn replicas(&self, r: usize) -> usize {
        r.min(self.len())
    }

    /// The primary owner of a key (`None` for an empty ring).
    pub fn owner(&self, key: u64) -> Option<usize> {
        let (&first, rest) = self.mixed_seeds.split_first()?;
        let key = premix(key);
        let mut best_score = finish(key ^ first);
        let mut best = 0;
        for (i, &seed) in rest.iter().enumerate() {
            let s = finish(key ^ seed);
            // Strictly greater: on a tie the earlier (smaller) id stays.
            if s > best_score {
                best_score = s;
                best = i + 1;
            }
        }
        Some(best)
    }

    /// The `min(r, len)` owners of a key, best first.
    pub fn owners(&self, key: u64, r: usize) -> Vec<usize> {
        match self.replicas(r) {
            0 => Vec::new(),
            1 => self.owner(key).into_iter().collect(),
            want => {
                let mut top = Vec::with_capacity(want);
                top_into(&self.mixed_seeds, key, want, &mut top);
                top.into_iter().map(|(_, i)| i as usize).collect()
            }
        }
    }

    /// Whether `member` is among the `r` owners of `key` (false for an unknown index).
    pub fn is_owner(&self, key: u64, member: usize, r: usize) -> bool {
        let Some(&own_seed) = self.mixed_seeds.get(member) else {
            return false;
        };
        if r == 0 {
            return false;
        }
        if r >= self.len() {
            return true;
        }
        // An owner is a member with fewer than r members ranked ahead of it.
        let key = premix(key);
        let own = finish(key ^ own_seed);
        let mut ahead = 0;
        for (i, &seed) in self.mixed_seeds.iter().enumerate() {
            let s = finish(key ^ seed);
            if s > own || (s == own && i < member) {
                ahead += 1;
                if ahead == r {
                    return false;
                }
            }
        }
        true
    }

    /// The owners of many keys, flattened: key `i`'s owners, best first, are
    /// `out[i * n..(i + 1) * n]` with `n = self.replicas(r)`. With `r == 1` that is one
    /// member index per key. Empty when the ring is empty or `r == 0`.
    pub fn assign_all(&self, keys: &[u64], r: usize) -> Vec<u32> {
        let want = self.replicas(r);
        let mut out = Vec::with_capacity(keys.len() * want);
        match want {
            0 => {}
            1 => {
                let mut blocks = keys.chunks_exact(KEYS_PER_PASS);
                for block in &mut blocks {
                    let block: &[u64; KEYS_PER_PASS] =
                        block.try_into().expect("chunks_exact yields full blocks");
                    out.extend_from_slice(&primary_block(&self.mixed_seeds, block));
                }
                out.extend(
                    blocks
                        .remainder()
                        .iter()
                        .filter_map(|&key| self.owner(key))
                        .map(|i| i as u32),
                );
            }
            _ => {
                let mut top = Vec::with_capacity(want);
                for &key in keys {
                    top_into(&self.mixed_seeds, key, want, &mut top);
                    out.extend(top.iter().map(|&(_, i)| i));
                }
            }
        }
        out
    }
}

fn view_hash_of(sorted_ids: &[String]) -> u64 {
    let mut joined = Vec::with_capacity(sorted_ids.iter().map(|id| id.len() + 1).sum());
    for (i, id) in sorted_ids.iter().enumerate() {
        if i > 0 {
            joined.push(VIEW_SEPARATOR);
        }
        joined.extend_from_slice(id.as_bytes());
    }
    xxh3_64(&joined)
}

/// The primary owners of a block of keys in one pass over the (non-empty) mixed seeds.
#[inline]
fn primary_block<const N: usize>(mixed_seeds: &[u64], keys: &[u64; N]) -> [u32; N] {
    let keys = keys.map(premix);
    let first = mixed_seeds[0];
    let mut best_score = keys.map(|key| finish(key ^ first));
    let mut best = [0u32; N];
    for (i, &seed) in mixed_seeds.iter().enumerate().skip(1) {
        for lane in 0..N {
            let s = finish(keys[lane] ^ seed);
            // Strictly greater keeps the smaller id on a tie; selects, not branches,
            // since which member wins is unpredictable.
            let better = s > best_score[lane];
            best_score[lane] = if better { s } else { best_score[lane] };
            best[lane] = if better { i as u32 } else { best[lane] };
        }
    }
    best
}

/// Fills `top` with the best `want` (score, index) pairs for a key, best first;
/// `1 <= want <= mixed_seeds.len()`.
fn top_into(mixed_seeds: &[u64], key: u64, want: usize, top: &mut Vec<(u64, u32)>) {
    top.clear();
    let key = premix(key);
    for (i, &seed) in mixed_seeds.iter().enumerate() {
        let s = finish(key ^ seed);
        if top.len() == want {
            // Full: a later (larger) id needs a strictly higher score than the last.
            if s <= top[want - 1].0 {
                continue;
            }
            top.pop();
        }
        // After every entry scoring at least as much: those have smaller ids.
        let at = top.partition_point(|&(t, _)| t >= s);
        top.insert(at, (s, i as u32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::HashSet;

    // Golden values. Computed independently of this code with Python 3.11 and the
    // `xxhash` package 4.1.0 from PyPI (xxhash.xxh3_64_intdigest), with fmix64 written out
    // as `x ^= x >> 33; x = (x * C1) & (2**64 - 1); ...` and owners ranked by
    // `sorted(range(n), key=lambda i: (-score(k, seed(ids[i])), ids[i].encode()))` over the
    // ids sorted bytewise. fmix64(1) = 0xb456bcfc34c2cb2c also matches MurmurHash3's
    // published finalizer.

    const IDS: [&str; 5] = [
        "10.0.0.1:9090",
        "10.0.0.2:9090",
        "10.0.0.3:9090",
        "promshard-0.promshard:9095",
        "promshard-1.promshard:9095",
    ];

    #[test]
    fn member_seed_golden() {
        let golden = [
            ("10.0.0.1:9090", 0x5c60_d74a_716e_75c0),
            ("10.0.0.2:9090", 0x1b61_3e8c_5fda_219d),
            ("10.0.0.3:9090", 0xfcf6_f023_6109_b6ec),
            ("promshard-0.promshard:9095", 0x01b1_cdcb_bf3f_2f63),
            ("promshard-1.promshard:9095", 0x4b7b_d6d4_b8ef_7521),
            ("", 0x2d06_8005_38d3_94c2),
        ];
        for (id, seed) in golden {
            assert_eq!(member_seed(id), seed, "seed of {id:?}");
        }
    }

    #[test]
    fn score_golden() {
        let golden: [(u64, u64, u64); 6] = [
            (0, 0, 0),
            (1, 0, 0xb456_bcfc_34c2_cb2c),
            (0, 1, 0xb456_bcfc_34c2_cb2c),
            (
                0xdead_beef_cafe_babe,
                0x5c60_d74a_716e_75c0,
                0x426b_9d6b_dd8d_5f6a,
            ),
            (u64::MAX, 0x0123_4567_89ab_cdef, 0x03eb_ebcc_1f4a_6fd7),
            (1 << 63, 1 << 63, 0),
        ];
        for (key, seed, expected) in golden {
            assert_eq!(score(key, seed), expected, "score({key:#x}, {seed:#x})");
        }
    }

    #[test]
    fn owners_golden() {
        // Full rankings of the five IDS (indices into the sorted list, which is IDS).
        let golden: [(u64, [usize; 5]); 6] = [
            (0, [3, 4, 1, 2, 0]),
            (1, [1, 2, 3, 0, 4]),
            (42, [2, 1, 0, 4, 3]),
            (0xdead_beef_cafe_babe, [3, 1, 4, 0, 2]),
            (u64::MAX, [1, 4, 2, 0, 3]),
            // xxh3_64 of `{instance="node-1:9100",job="node"}`.
            (0xcda6_b40f_794c_7d58, [4, 2, 3, 1, 0]),
        ];
        // Listed out of order: the ring sorts them.
        let ring = Ring::new(IDS.iter().rev().copied());
        assert_eq!(ring.members(), IDS);
        let keys: Vec<u64> = golden.iter().map(|&(key, _)| key).collect();
        for r in 1..=6 {
            let flat = ring.assign_all(&keys, r);
            let n = r.min(5);
            for (i, (key, ranking)) in golden.iter().enumerate() {
                assert_eq!(ring.owners(*key, r), ranking[..n], "key {key:#x} r {r}");
                let from_all: Vec<usize> = flat[i * n..(i + 1) * n]
                    .iter()
                    .map(|&m| m as usize)
                    .collect();
                assert_eq!(from_all, ranking[..n], "assign_all key {key:#x} r {r}");
            }
        }
        for (key, ranking) in golden {
            assert_eq!(ring.owner(key), Some(ranking[0]));
        }
    }

    #[test]
    fn view_hash_golden() {
        // xxh3_64(b"\xff".join(sorted ids)); a single id hashes alone, no separator.
        assert_eq!(Ring::new(IDS).view_hash(), 0xefcf_ade2_658e_aa67);
        assert_eq!(
            Ring::new(["10.0.0.1:9090"]).view_hash(),
            0x5c60_d74a_716e_75c0
        );
        assert_eq!(
            Ring::new(Vec::<String>::new()).view_hash(),
            0x2d06_8005_38d3_94c2
        );
    }

    #[test]
    fn order_independent_and_deduplicated() {
        let a = Ring::new(["c:1", "a:1", "b:1"]);
        let b = Ring::new(vec![
            "b:1".to_string(),
            "a:1".into(),
            "c:1".into(),
            "a:1".into(),
        ]);
        let c = Ring::new(["a:1", "a:1", "b:1", "c:1", "c:1", "b:1"]);
        assert_eq!(a.members(), ["a:1", "b:1", "c:1"]);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.len(), 3);
        assert_eq!(a.index_of("b:1"), Some(1));
        assert_eq!(a.index_of("d:1"), None);
        for key in [0, 7, u64::MAX, 0x1234_5678_9abc_def0] {
            assert_eq!(a.owners(key, 3), b.owners(key, 3));
        }
    }

    #[test]
    fn view_hash_identifies_the_set() {
        let a = Ring::new(["x:1", "y:2", "z:3"]);
        assert_eq!(
            a.view_hash(),
            Ring::new(["z:3", "x:1", "y:2", "x:1"]).view_hash()
        );
        assert_ne!(a.view_hash(), Ring::new(["x:1", "y:2"]).view_hash());
        assert_ne!(a.view_hash(), Ring::new(["x:1", "y:2", "z:4"]).view_hash());
        // The separator keeps the boundaries: {"ab", "c"} is not {"a", "bc"}.
        assert_ne!(
            Ring::new(["ab", "c"]).view_hash(),
            Ring::new(["a", "bc"]).view_hash()
        );
    }

    #[test]
    fn empty_ring_and_degenerate_r() {
        let empty = Ring::new(Vec::<&str>::new());
        assert!(empty.is_empty());
        assert_eq!(empty.owner(5), None);
        assert!(empty.owners(5, 3).is_empty());
        assert!(!empty.is_owner(5, 0, 1));
        assert!(empty.assign_all(&[1, 2, 3], 1).is_empty());

        let ring = Ring::new(IDS);
        assert!(ring.owners(5, 0).is_empty());
        assert!(ring.assign_all(&[1, 2, 3], 0).is_empty());
        assert!(!ring.is_owner(5, 0, 0));
        assert!(!ring.is_owner(5, 5, 9), "index out of range");
        assert_eq!(ring.owners(5, 99).len(), 5);
    }

    /// A ring with chosen seeds, to force ties (real ids would need an xxh3 collision).
    fn with_seeds(ids: &[&str], seeds: &[u64]) -> Ring {
        let mut ring = Ring::new(ids.iter().copied());
        assert_eq!(ring.members(), ids, "ids given sorted and distinct");
        ring.mixed_seeds = seeds.iter().map(|&seed| premix(seed)).collect();
        ring
    }

    #[test]
    fn ties_go_to_the_smaller_id() {
        // All seeds equal: every member scores the same for every key, so the ranking is
        // the id order everywhere, in every code path.
        let ring = with_seeds(&["a", "b", "c", "d"], &[9; 4]);
        let keys: Vec<u64> = (0..21u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        for &key in &keys {
            assert_eq!(ring.owner(key), Some(0));
            assert_eq!(ring.owners(key, 3), [0, 1, 2]);
            assert!(ring.is_owner(key, 2, 3));
            assert!(!ring.is_owner(key, 3, 3));
            assert!(!ring.is_owner(key, 1, 1));
        }
        assert!(ring.assign_all(&keys, 1).iter().all(|&m| m == 0));
        let flat = ring.assign_all(&keys, 2);
        assert!(flat.chunks(2).all(|pair| pair == [0, 1]));

        // b and d tie; a and c score differently. Where the tied pair leads, b is first.
        let ring = with_seeds(&["a", "b", "c", "d"], &[1, 2, 3, 2]);
        let mut tied_lead = 0;
        for key in 0..2000u64 {
            let ranking = ring.owners(key, 4);
            let pos_b = ranking.iter().position(|&m| m == 1);
            let pos_d = ranking.iter().position(|&m| m == 3);
            assert_eq!(pos_d, pos_b.map(|p| p + 1), "d right after b for key {key}");
            if ranking[0] == 1 {
                tied_lead += 1;
                assert_eq!(ring.owner(key), Some(1));
                assert!(ring.is_owner(key, 1, 1) && !ring.is_owner(key, 3, 1));
            }
        }
        assert!(tied_lead > 0, "the tied pair led for some key");
        let keys: Vec<u64> = (0..2000).collect();
        let all = ring.assign_all(&keys, 1);
        for (&key, &m) in keys.iter().zip(&all) {
            assert_eq!(Some(m as usize), ring.owner(key));
        }
    }

    /// The ranking by the definition: sort by (score descending, id ascending).
    fn reference_ranking(ring: &Ring, key: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..ring.len()).collect();
        order.sort_by_key(|&i| {
            (
                Reverse(score(key, member_seed(&ring.members[i]))),
                &ring.members[i],
            )
        });
        order
    }

    fn numbered(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("10.1.{}.{}:9095", i / 256, i % 256))
            .collect()
    }

    #[test]
    fn top_r_distinct_best_first() {
        let mut rng = fastrand::Rng::with_seed(7);
        // 1003 keys: not a multiple of the block size, so the remainder path runs too.
        let keys: Vec<u64> = (0..1003).map(|_| rng.u64(..)).collect();
        for n in [1, 2, 3, 7, 31] {
            let ring = Ring::new(numbered(n));
            for r in [1, 2, 3, 5] {
                let want = r.min(n);
                let flat = ring.assign_all(&keys, r);
                assert_eq!(flat.len(), keys.len() * want);
                for (i, &key) in keys.iter().enumerate() {
                    let owners = ring.owners(key, r);
                    assert_eq!(owners.len(), want);
                    let distinct: HashSet<usize> = owners.iter().copied().collect();
                    assert_eq!(distinct.len(), want, "distinct owners");
                    assert_eq!(owners, reference_ranking(&ring, key)[..want]);
                    assert_eq!(owners[0], ring.owner(key).expect("non-empty"));
                    let row: Vec<usize> = flat[i * want..(i + 1) * want]
                        .iter()
                        .map(|&m| m as usize)
                        .collect();
                    assert_eq!(row, owners);
                    for m in 0..n {
                        assert_eq!(ring.is_owner(key, m, r), owners.contains(&m));
                    }
                }
            }
        }
    }

    #[test]
    fn balanced_over_ten_members() {
        let ring = Ring::new(numbered(10));
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let keys: Vec<u64> = (0..100_000).map(|_| rng.u64(..)).collect();
        let mut counts = [0usize; 10];
        for m in ring.assign_all(&keys, 1) {
            counts[m as usize] += 1;
        }
        for (m, &count) in counts.iter().enumerate() {
            assert!(
                (9_500..=10_500).contains(&count),
                "member {m}: {count} keys"
            );
        }
    }

    /// Owners of every key, by id (indices shift when the member set changes).
    fn owner_ids(ring: &Ring, keys: &[u64], r: usize) -> Vec<Vec<String>> {
        let want = ring.replicas(r);
        ring.assign_all(keys, r)
            .chunks(want)
            .map(|row| {
                row.iter()
                    .map(|&m| ring.members()[m as usize].clone())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn joining_moves_only_keys_to_the_new_member() {
        let mut rng = fastrand::Rng::with_seed(11);
        let keys: Vec<u64> = (0..100_000).map(|_| rng.u64(..)).collect();
        let old_ids = numbered(10);
        let joiner = "10.9.9.9:9095".to_string();
        let old = Ring::new(old_ids.clone());
        let new = Ring::new(old_ids.iter().cloned().chain([joiner.clone()]));

        let before = owner_ids(&old, &keys, 1);
        let after = owner_ids(&new, &keys, 1);
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(b != a, a[0] == joiner, "a key moved iff the joiner took it");
            moved += usize::from(b != a);
        }
        let ideal = keys.len() as f64 / 11.0;
        assert!(
            (ideal / 1.2..=ideal * 1.2).contains(&(moved as f64)),
            "{moved} keys moved, ideal {ideal:.0}"
        );

        // R = 2: the joiner enters some owner sets and nothing else changes; the ranking of
        // the others is kept, so the pair is the old one with the joiner inserted.
        let before = owner_ids(&old, &keys, 2);
        let after = owner_ids(&new, &keys, 2);
        for (b, a) in before.iter().zip(&after) {
            let without_joiner: Vec<&String> = a.iter().filter(|&id| *id != joiner).collect();
            let kept: Vec<&String> = b.iter().take(without_joiner.len()).collect();
            assert_eq!(without_joiner, kept, "owners {b:?} -> {a:?}");
        }
    }

    #[test]
    fn leaving_moves_only_the_leavers_keys() {
        let mut rng = fastrand::Rng::with_seed(12);
        let keys: Vec<u64> = (0..100_000).map(|_| rng.u64(..)).collect();
        let old_ids = numbered(10);
        let leaver = old_ids[4].clone();
        let old = Ring::new(old_ids.clone());
        let new = Ring::new(old_ids.iter().filter(|&id| *id != leaver).cloned());

        let before = owner_ids(&old, &keys, 1);
        let after = owner_ids(&new, &keys, 1);
        let mut moved = 0;
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(b != a, b[0] == leaver, "a key moved iff the leaver had it");
            moved += usize::from(b != a);
        }
        assert!((9_000..=11_000).contains(&moved), "{moved} keys moved");

        // R = 2: the old ranking without the leaver, so sets without it are unchanged and
        // a set with it keeps the other owner and takes the next in the old ranking.
        let before = owner_ids(&old, &keys, 3);
        let after = owner_ids(&new, &keys, 2);
        for (b, a) in before.iter().zip(&after) {
            let expected: Vec<&String> = b.iter().filter(|&id| *id != leaver).take(2).collect();
            assert_eq!(
                a.iter().collect::<Vec<_>>(),
                expected,
                "owners {b:?} -> {a:?}"
            );
        }
    }
}
