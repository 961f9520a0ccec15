package dataset

import (
	"io"
	"os"
)

// growth sizes the table's slices while it loads. Go's append grows a large
// slice by a quarter at a time, copying it each time; for 10^7 rows that
// copying costs more than parsing. When the input's size is known, growth
// instead estimates each slice's final length from the fraction of the
// input read so far, so that a slice reaches its size in a few steps and
// needs no trimming copy at the end.
type growth struct {
	total int64        // bytes of input, or 0 if unknown
	done  func() int64 // bytes of input read so far
}

// next returns the capacity to give a slice of length n that needs room for
// more elements.
func (g *growth) next(n, more int) int {
	c := 2 * n
	if g != nil && g.total > 0 {
		if done := g.done(); done > 0 {
			est := int(float64(n)*float64(g.total)/float64(done)*1.02) + 1024
			// Clamped, since the first rows may not be typical.
			c = max(n+n/4, min(est, 4*n))
		}
	}
	return max(c, n+more, 1024)
}

// grown returns s with room for more elements.
func grown[S ~[]E, E any](g *growth, s S, more int) S {
	if cap(s)-len(s) >= more {
		return s
	}
	ns := make(S, len(s), g.next(len(s), more))
	copy(ns, s)
	return ns
}

// inputSize returns how many bytes r holds from its current position, when
// it can tell cheaply, or 0.
func inputSize(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }: // bytes.Reader, strings.Reader, bytes.Buffer
		return int64(r.Len())
	case *os.File:
		fi, err := r.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return 0
		}
		off, err := r.Seek(0, io.SeekCurrent)
		if err != nil || off > fi.Size() {
			return 0
		}
		return fi.Size() - off
	}
	return 0
}
