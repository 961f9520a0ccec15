package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// EncodeRow appends the encoding of row i's kept payload values to dst and
// returns the extended slice; it is what a join encrypts and sends. The
// encoding is
//
//	uvarint(number of values) || for each value: uvarint(length) || bytes
//
// with every uvarint in its shortest form, so that a list of values has
// exactly one encoding. It panics if i is out of range.
func (t *Table) EncodeRow(dst []byte, i int) []byte {
	t.checkRow(i)
	k := t.stride - 1
	dst = binary.AppendUvarint(dst, uint64(k))
	for c := 0; c < k; c++ {
		v := t.cell(i*t.stride + 1 + c)
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// appendRow is EncodeRow for a list of values.
func appendRow(dst []byte, values [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(values)))
	for _, v := range values {
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// DecodeRow decodes a row that EncodeRow encoded with ncols values. The
// values are views into b. It is strict, because b may come from a peer: a
// different number of values, a truncated value, a length prefix that is
// not in shortest form or runs past the end, and bytes after the last value
// are all errors that wrap ErrMalformedRow. It never panics.
func DecodeRow(b []byte, ncols int) ([][]byte, error) {
	if ncols < 0 {
		return nil, fmt.Errorf("%w: negative column count %d", ErrMalformedRow, ncols)
	}
	n, rest, err := uvarint(b)
	if err != nil {
		return nil, fmt.Errorf("%w: value count: %v", ErrMalformedRow, err)
	}
	if n != uint64(ncols) {
		return nil, fmt.Errorf("%w: %d values, want %d", ErrMalformedRow, n, ncols)
	}
	// Each value takes at least one byte: check before allocating.
	if n > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: %d values in %d bytes", ErrMalformedRow, n, len(rest))
	}
	out := make([][]byte, ncols)
	for i := range out {
		var l uint64
		l, rest, err = uvarint(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: value %d: length: %v", ErrMalformedRow, i, err)
		}
		if l > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: value %d: length %d, only %d bytes left", ErrMalformedRow, i, l, len(rest))
		}
		out[i], rest = rest[:l:l], rest[l:]
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last value", ErrMalformedRow, len(rest))
	}
	return out, nil
}

// uvarint reads a uvarint in shortest form from the start of b.
func uvarint(b []byte) (uint64, []byte, error) {
	x, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, nil, errors.New("truncated")
	case n < 0:
		return 0, nil, errors.New("overflows 64 bits")
	case n > 1 && b[n-1] == 0:
		return 0, nil, errors.New("not in shortest form")
	}
	return x, b[n:], nil
}
