package store

import "context"

// ExecForTest runs q on the writer, for what the Store itself never does (such as
// deleting an account to see the cascade).
func (db *DB) ExecForTest(ctx context.Context, q string, args ...any) error {
	_, err := db.exec(ctx, q, args...)
	return err
}

// ValueForTest returns the one value q reads on the writer or on a reader.
func (db *DB) ValueForTest(ctx context.Context, reader bool, q string) (string, error) {
	p := db.pools.writer
	if reader {
		p = db.pools.reader
	}
	var v string
	err := p.QueryRowContext(ctx, q).Scan(&v)
	return v, err
}
