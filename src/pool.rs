//! Buffers shared by all tasks of one kind (scrape loops, remote-write shards): a task takes
//! one for a piece of work and gives it back after, so their number follows the work in
//! flight, not the targets or shards, and a buffer keeps its capacity from one use to the
//! next instead of being grown and freed again (which leaves freed memory with the
//! allocator).

use parking_lot::Mutex;

pub struct Pool<T> {
    items: Mutex<Vec<T>>,
    /// At most this many are kept; more given back are dropped.
    keep: usize,
}

impl<T: Default> Pool<T> {
    pub const fn new(keep: usize) -> Self {
        Pool {
            items: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// A buffer from the pool, or a new one.
    pub fn take(&self) -> T {
        self.items.lock().pop().unwrap_or_default()
    }

    /// Runs `work` with an item from the pool, which is kept again after (for items `work`
    /// leaves fit for reuse as they are).
    pub fn with<R>(&self, work: impl FnOnce(&mut T) -> R) -> R {
        let mut item = self.take();
        let result = work(&mut item);
        self.give_back(item);
        result
    }

    /// Keeps `item` for a later [`Pool::take`] (the caller empties it first).
    pub fn give_back(&self, item: T) {
        let mut items = self.items.lock();
        if items.len() < self.keep {
            items.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_its_bound_and_hands_back_capacity() {
        let pool: Pool<Vec<u8>> = Pool::new(2);
        for _ in 0..3 {
            pool.give_back(Vec::with_capacity(100));
        }
        let a = pool.take();
        let b = pool.take();
        let c = pool.take();
        assert_eq!((a.capacity(), b.capacity(), c.capacity()), (100, 100, 0));
    }

    #[test]
    fn with_gives_the_item_back_after() {
        let pool: Pool<Vec<u8>> = Pool::new(1);
        let len = pool.with(|item| {
            item.reserve(100);
            item.len()
        });
        assert_eq!(len, 0);
        assert!(pool.take().capacity() >= 100);
    }
}
