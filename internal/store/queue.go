package store

// AtomicQueue reports how many Atomic calls wait for SQLite's writer, all of
// which its next transaction takes (up to capacity of them), and capacity;
// 0, 0 on PostgreSQL, where every call has a transaction of its own.
//
// Race tests use it: while the writer is held, concurrent calls queue here
// and then share one transaction, where a decision taken on a read made
// outside it (a reader sees only committed rows) lets more than one call
// through. On PostgreSQL concurrent transactions give that race by themselves.
func (db *DB) AtomicQueue() (waiting, capacity int) {
	if db.pools == nil || db.pools.batch == nil {
		return 0, 0
	}
	return len(db.pools.batch.queue), cap(db.pools.batch.queue)
}
