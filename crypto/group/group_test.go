package group

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testDST is the domain-separation tag of the tests, shaped like a job's.
var testDST = []byte("mitai/v1/psi/test-job")

// testRand returns a deterministic random source for reproducible tests.
func testRand(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

// allGroups returns every group, by name.
func allGroups(t testing.TB) []Group {
	t.Helper()
	var gs []Group
	for _, name := range Names() {
		g, err := ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	return gs
}

func mustScalar(t testing.TB, g Group, r io.Reader) Scalar {
	t.Helper()
	s, err := g.NewScalar(r)
	if err != nil {
		t.Fatalf("%s: NewScalar: %v", g.Name(), err)
	}
	return s
}

func mustMul(t testing.TB, s Scalar, in []byte) []byte {
	t.Helper()
	out := make([]byte, len(in))
	if err := s.Mul(out, in); err != nil {
		t.Fatalf("Mul(%x): %v", in, err)
	}
	return out
}

func hash(g Group, msg string) []byte {
	out := make([]byte, g.ElementSize())
	g.HashToElement(out, []byte(msg), testDST)
	return out
}

func TestByName(t *testing.T) {
	t.Parallel()
	if got, want := Names(), []string{"p256", "ristretto255", "x25519"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	sizes := map[string]int{"p256": 33, "ristretto255": 32, "x25519": 32}
	for _, name := range Names() {
		g, err := ByName(name)
		if err != nil {
			t.Fatalf("ByName(%q): %v", name, err)
		}
		if g.Name() != name {
			t.Errorf("ByName(%q).Name() = %q", name, g.Name())
		}
		if g.ElementSize() != sizes[name] {
			t.Errorf("%s: ElementSize() = %d, want %d", name, g.ElementSize(), sizes[name])
		}
	}
	if _, err := ByName(DefaultName); err != nil {
		t.Errorf("DefaultName %q: %v", DefaultName, err)
	}
	_, err := ByName("sm2")
	if err == nil {
		t.Fatal(`ByName("sm2") succeeded`)
	}
	for _, name := range Names() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("ByName error %q does not list %q", err, name)
		}
	}
}

// TestCommutativity checks a·(b·H(m)) == b·(a·H(m)), the property ECDH-PSI
// rests on.
func TestCommutativity(t *testing.T) {
	t.Parallel()
	for i, g := range allGroups(t) {
		t.Run(g.Name(), func(t *testing.T) {
			t.Parallel()
			r := testRand(uint64(i))
			for j := range 8 {
				a, b := mustScalar(t, g, r), mustScalar(t, g, r)
				p := hash(g, fmt.Sprintf("key-%d", j))
				ab := mustMul(t, a, mustMul(t, b, p))
				ba := mustMul(t, b, mustMul(t, a, p))
				if !bytes.Equal(ab, ba) {
					t.Fatalf("a·(b·P) = %x, b·(a·P) = %x", ab, ba)
				}
				if bytes.Equal(ab, p) || bytes.Equal(mustMul(t, a, p), p) {
					t.Fatalf("blinding left P unchanged")
				}
			}
		})
	}
}

// TestHashMul checks that HashMul equals HashToElement followed by Mul.
func TestHashMul(t *testing.T) {
	t.Parallel()
	for i, g := range allGroups(t) {
		t.Run(g.Name(), func(t *testing.T) {
			t.Parallel()
			s := mustScalar(t, g, testRand(300+uint64(i)))
			for j := range 16 {
				msg := fmt.Appendf(nil, "key-%d", j)
				want := mustMul(t, s, hash(g, string(msg)))
				got := make([]byte, g.ElementSize())
				if err := s.HashMul(got, msg, testDST); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("HashMul %x, HashToElement then Mul %x", got, want)
				}
			}
			s.Erase()
			if err := s.HashMul(make([]byte, g.ElementSize()), []byte("k"), testDST); err == nil {
				t.Fatal("HashMul after Erase succeeded")
			}
		})
	}
}

// TestInverse checks t·(c·(a·P)) == c·P for t = a.Inverse(), as the PSI
// join uses it, and that the inverse of the inverse is a again.
func TestInverse(t *testing.T) {
	t.Parallel()
	for i, g := range allGroups(t) {
		t.Run(g.Name(), func(t *testing.T) {
			t.Parallel()
			r := testRand(100 + uint64(i))
			for j := range 8 {
				a, c := mustScalar(t, g, r), mustScalar(t, g, r)
				inv := a.Inverse()
				p := hash(g, fmt.Sprintf("row-%d", j))
				q := mustMul(t, a, p)
				cq := mustMul(t, c, q)
				cp := mustMul(t, c, p)
				if got := mustMul(t, inv, cq); !bytes.Equal(got, cp) {
					t.Fatalf("t·(c·(a·P)) = %x, want c·P = %x", got, cp)
				}
				if got := mustMul(t, inv.Inverse(), p); !bytes.Equal(got, q) {
					t.Fatalf("a.Inverse().Inverse()·P = %x, want a·P = %x", got, q)
				}
				// Every Mul output is in the prime-order subgroup, where
				// the inverse undoes a blinding exactly.
				if got := mustMul(t, inv, mustMul(t, a, cp)); !bytes.Equal(got, cp) {
					t.Fatalf("t·(a·R) = %x, want R = %x", got, cp)
				}
			}
		})
	}
}

// TestValidateAcceptsOutputs checks that every hash and every product is a
// valid element.
func TestValidateAcceptsOutputs(t *testing.T) {
	t.Parallel()
	for i, g := range allGroups(t) {
		t.Run(g.Name(), func(t *testing.T) {
			t.Parallel()
			s := mustScalar(t, g, testRand(200+uint64(i)))
			for j := range 64 {
				p := hash(g, fmt.Sprintf("%d", j))
				if err := g.Validate(p); err != nil {
					t.Fatalf("Validate(H(%d) = %x): %v", j, p, err)
				}
				sp := mustMul(t, s, p)
				if err := g.Validate(sp); err != nil {
					t.Fatalf("Validate(s·H(%d) = %x): %v", j, sp, err)
				}
			}
		})
	}
}

// TestRejectLength checks that every group refuses wrong lengths, in
// Validate and in Mul, and that a failed Mul leaves out alone.
func TestRejectLength(t *testing.T) {
	t.Parallel()
	for i, g := range allGroups(t) {
		t.Run(g.Name(), func(t *testing.T) {
			t.Parallel()
			s := mustScalar(t, g, testRand(300+uint64(i)))
			p := hash(g, "x")
			long := append(slices.Clone(p), 0)
			for _, b := range [][]byte{nil, {}, p[:1], p[:len(p)-1], long, make([]byte, 64)} {
				checkRejected(t, g, s, b, "")
			}
		})
	}
}

// checkRejected checks that Validate and Mul both refuse b with an error
// wrapping ErrInvalidElement whose text contains want, and that Mul leaves
// its output untouched.
func checkRejected(t *testing.T, g Group, s Scalar, b []byte, want string) {
	t.Helper()
	err := g.Validate(b)
	if !errors.Is(err, ErrInvalidElement) {
		t.Errorf("%s: Validate(%x) = %v, want ErrInvalidElement", g.Name(), b, err)
	} else if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: Validate(%x) = %q, want it to mention %q", g.Name(), b, err, want)
	}
	out := bytes.Repeat([]byte{0xa5}, g.ElementSize())
	if err := s.Mul(out, b); !errors.Is(err, ErrInvalidElement) {
		t.Errorf("%s: Mul(%x) = %v, want ErrInvalidElement", g.Name(), b, err)
	}
	if !bytes.Equal(out, bytes.Repeat([]byte{0xa5}, g.ElementSize())) {
		t.Errorf("%s: failed Mul(%x) wrote to out", g.Name(), b)
	}
}

func TestMulAliasing(t *testing.T) {
	t.Parallel()
	for i, g := range allGroups(t) {
		t.Run(g.Name(), func(t *testing.T) {
			t.Parallel()
			s := mustScalar(t, g, testRand(400+uint64(i)))
			p := hash(g, "alias")
			want := mustMul(t, s, p)
			if err := s.Mul(p, p); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p, want) {
				t.Fatalf("in-place Mul = %x, want %x", p, want)
			}
		})
	}
}

func TestErase(t *testing.T) {
	t.Parallel()
	for i, g := range allGroups(t) {
		t.Run(g.Name(), func(t *testing.T) {
			t.Parallel()
			s := mustScalar(t, g, testRand(500+uint64(i)))
			inv := s.Inverse()
			p := hash(g, "erase")
			s.Erase()
			out := make([]byte, g.ElementSize())
			if err := s.Mul(out, p); err == nil || errors.Is(err, ErrInvalidElement) {
				t.Errorf("Mul after Erase = %v, want the use-after-Erase error", err)
			}
			if err := s.Inverse().Mul(out, p); err == nil {
				t.Error("Mul by the Inverse of an erased scalar succeeded")
			}
			// The inverse taken before Erase is independent.
			if err := inv.Mul(out, p); err != nil {
				t.Errorf("Mul by an inverse taken before Erase: %v", err)
			}
			inv.Erase()
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("entropy source failed") }

type constReader byte

func (c constReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(c)
	}
	return len(b), nil
}

func TestNewScalarErrors(t *testing.T) {
	t.Parallel()
	for _, g := range allGroups(t) {
		if _, err := g.NewScalar(errReader{}); err == nil || !strings.Contains(err.Error(), "entropy source failed") {
			t.Errorf("%s: NewScalar(failing reader) = %v", g.Name(), err)
		}
	}
	// All-ones strings are above the order of the prime-order groups, so a
	// source stuck on 0xff must end in an error, not a hang.
	for _, name := range []string{"ristretto255", "p256"} {
		g, _ := ByName(name)
		if _, err := g.NewScalar(constReader(0xff)); err == nil {
			t.Errorf("%s: NewScalar(0xff...) succeeded", name)
		}
	}
}

func TestNewScalarDistinct(t *testing.T) {
	t.Parallel()
	for _, g := range allGroups(t) {
		p := hash(g, "distinct")
		seen := map[string]bool{}
		for range 32 {
			s := mustScalar(t, g, testRand(rand.Uint64()))
			k := string(mustMul(t, s, p))
			if seen[k] {
				t.Fatalf("%s: two scalars gave the same product", g.Name())
			}
			seen[k] = true
		}
	}
}

// TestConcurrentUse runs HashToElement and Mul of one scalar from many
// goroutines and compares with sequential results (run with -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	for i, g := range allGroups(t) {
		t.Run(g.Name(), func(t *testing.T) {
			t.Parallel()
			s := mustScalar(t, g, testRand(600+uint64(i)))
			const n = 32
			want := make([][]byte, n)
			for j := range want {
				want[j] = mustMul(t, s, hash(g, fmt.Sprint(j)))
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for w := range 8 {
				wg.Go(func() {
					out := make([]byte, g.ElementSize())
					p := make([]byte, g.ElementSize())
					for j := range n {
						j := (j + w) % n
						g.HashToElement(p, []byte(fmt.Sprint(j)), testDST)
						if err := s.Mul(out, p); err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(out, want[j]) {
							errs <- fmt.Errorf("goroutine %d, element %d: got %x, want %x", w, j, out, want[j])
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestHashDomainSeparation(t *testing.T) {
	t.Parallel()
	for _, g := range allGroups(t) {
		a := make([]byte, g.ElementSize())
		b := make([]byte, g.ElementSize())
		g.HashToElement(a, []byte("k"), []byte("mitai/v1/psi/job-1"))
		g.HashToElement(b, []byte("k"), []byte("mitai/v1/psi/job-2"))
		if bytes.Equal(a, b) {
			t.Errorf("%s: same hash under two DSTs", g.Name())
		}
		g.HashToElement(b, []byte("k"), []byte("mitai/v1/psi/job-1"))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: HashToElement is not deterministic", g.Name())
		}
	}
}

// fuzzScalars holds one fixed scalar per group for the fuzz targets.
var fuzzScalars = sync.OnceValue(func() map[string]Scalar {
	m := map[string]Scalar{}
	for i, name := range Names() {
		g, _ := ByName(name)
		s, err := g.NewScalar(testRand(700 + uint64(i)))
		if err != nil {
			panic(err)
		}
		m[name] = s
	}
	return m
})

// FuzzValidate feeds arbitrary bytes to every group's Validate and Mul:
// neither may panic, both must agree, a refusal must wrap
// ErrInvalidElement, and an accepted element must give a valid product.
func FuzzValidate(f *testing.F) {
	for _, g := range allGroups(f) {
		f.Add(hash(g, "seed"))
		f.Add(make([]byte, g.ElementSize()))
		f.Add(bytes.Repeat([]byte{0xff}, g.ElementSize()))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, g := range allGroups(t) {
			s := fuzzScalars()[g.Name()]
			verr := g.Validate(b)
			out := make([]byte, g.ElementSize())
			merr := s.Mul(out, b)
			if (verr == nil) != (merr == nil) {
				t.Fatalf("%s: Validate(%x) = %v but Mul = %v", g.Name(), b, verr, merr)
			}
			if verr != nil {
				if !errors.Is(verr, ErrInvalidElement) || !errors.Is(merr, ErrInvalidElement) {
					t.Fatalf("%s: errors %v, %v do not wrap ErrInvalidElement", g.Name(), verr, merr)
				}
				continue
			}
			if err := g.Validate(out); err != nil {
				t.Fatalf("%s: product of valid %x is invalid: %v", g.Name(), b, err)
			}
		}
	})
}

func BenchmarkHashToElement(b *testing.B) {
	for _, g := range allGroups(b) {
		b.Run(g.Name(), func(b *testing.B) {
			out := make([]byte, g.ElementSize())
			msg := []byte("customer-0000000000")
			b.ReportAllocs()
			var i uint64
			for b.Loop() {
				binary.LittleEndian.PutUint64(msg[len(msg)-8:], i)
				i++
				g.HashToElement(out, msg, testDST)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "elems/s")
		})
	}
}

func BenchmarkMul(b *testing.B) {
	for i, g := range allGroups(b) {
		b.Run(g.Name(), func(b *testing.B) {
			s := mustScalar(b, g, testRand(800+uint64(i)))
			p := hash(g, "bench")
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Mul(p, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "elems/s")
		})
	}
}

func BenchmarkHashMul(b *testing.B) {
	for i, g := range allGroups(b) {
		b.Run(g.Name(), func(b *testing.B) {
			s := mustScalar(b, g, testRand(900+uint64(i)))
			out := make([]byte, g.ElementSize())
			msg := []byte("customer-0000000000")
			b.ReportAllocs()
			var k uint64
			for b.Loop() {
				binary.LittleEndian.PutUint64(msg[len(msg)-8:], k)
				k++
				if err := s.HashMul(out, msg, testDST); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "elems/s")
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	for _, g := range allGroups(b) {
		b.Run(g.Name(), func(b *testing.B) {
			p := hash(g, "bench")
			b.ReportAllocs()
			for b.Loop() {
				if err := g.Validate(p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "elems/s")
		})
	}
}

func BenchmarkNewScalar(b *testing.B) {
	for i, g := range allGroups(b) {
		b.Run(g.Name(), func(b *testing.B) {
			r := testRand(900 + uint64(i))
			for b.Loop() {
				s, err := g.NewScalar(r)
				if err != nil {
					b.Fatal(err)
				}
				s.Erase()
			}
		})
	}
}
