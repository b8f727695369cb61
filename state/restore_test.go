package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRestoreWindow checks that a window, sorted and reduced to the last
// operation per key, leaves a store as applying every record in order
// would: on random keys, on keys that are prefixes of one another or differ
// only in trailing zero bytes, and on keys sharing long prefixes.
func TestRestoreWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keySets := map[string]func() []byte{
		"random": func() []byte { return fmt.Appendf(nil, "%x", r.IntN(300)) },
		"prefixes": func() []byte {
			return []byte("ab\x00\x00\x00\x00\x00\x00\x00\x00\x01")[:r.IntN(12)]
		},
		"shared": func() []byte { return fmt.Appendf(nil, "some-long-shared-prefix-%07d", r.IntN(500)) },
		"one":    func() []byte { return []byte("k") },
	}
	for name, key := range keySets {
		t.Run(name, func(t *testing.T) {
			w := newRestoreWindow()
			for round := range 3 {
				want := NewMemory()
				got := NewMemory()
				for range 50 * (round + 1) {
					// Both stores start with the same content, as a
					// store being restored does between windows.
					k := key()
					must(t, want.Put(k, []byte("before")))
					must(t, got.Put(k, []byte("before")))
				}
				n := r.IntN(3000)
				for i := range n {
					k := key()
					if r.IntN(4) == 0 {
						w.add(k, nil)
						must(t, want.Delete(k))
						continue
					}
					v := fmt.Appendf(nil, "v%d", i)
					w.add(k, v)
					must(t, want.Put(k, v))
				}
				b := got.NewBatch()
				w.fill(b)
				if b.Len() > n {
					t.Fatalf("batch has %d operations for %d records", b.Len(), n)
				}
				must(t, got.Write(b))
				w.reset()
				if g, e := collect(t, got.Range(nil, nil)), collect(t, want.Range(nil, nil)); !slices.Equal(g, e) {
					t.Fatalf("round %d: window result differs from in-order application:\n got %q\nwant %q", round, g, e)
				}
			}
		})
	}
}
