package kernel

import (
	"fmt"
	"slices"
	"strings"
)

// Ops names the operations of the package, in the order reports list them.
// A profile (see Compose) chooses a variant per name.
var Ops = []string{
	"NTT", "INTT",
	"MulCoeffsMontgomery", "MulCoeffsMontgomeryLazy", "MulCoeffsMontgomeryThenAdd",
	"MulCoeffsMontgomeryLazyThenAddLazy", "MulScalarMontgomeryThenAdd",
	"Add", "Sub", "Neg", "Reduce",
}

// takeOp copies into dst the entry of src that runs op.
func takeOp(op string, dst *funcs, src funcs) bool {
	switch op {
	case "NTT":
		dst.ntt, dst.nttCI = src.ntt, src.nttCI
	case "INTT":
		dst.intt, dst.inttCI = src.intt, src.inttCI
	case "MulCoeffsMontgomery":
		dst.mulMont = src.mulMont
	case "MulCoeffsMontgomeryLazy":
		dst.mulMontLazy = src.mulMontLazy
	case "MulCoeffsMontgomeryThenAdd":
		dst.mulMontThenAdd = src.mulMontThenAdd
	case "MulCoeffsMontgomeryLazyThenAddLazy":
		dst.mulMontLazyThenAddLazy = src.mulMontLazyThenAddLazy
	case "MulScalarMontgomeryThenAdd":
		dst.mulScalarMontThenAdd = src.mulScalarMontThenAdd
	case "Add":
		dst.add = src.add
	case "Sub":
		dst.sub = src.sub
	case "Neg":
		dst.neg = src.neg
	case "Reduce":
		dst.reduce = src.reduce
	default:
		return false
	}
	return true
}

// Compose returns a variant, called name, that runs each operation named in
// choice with the variant chosen for it and every other operation with base.
// Every variant computes the same words, so a composition does too; it
// exists because the fastest variant can differ per operation (a tuner's
// profile). An unknown operation or a variant this CPU cannot run is an
// error.
func Compose(name string, base *Impl, choice map[string]string) (*Impl, error) {
	if base == nil {
		return nil, fmt.Errorf("kernel: compose %s: no base variant", name)
	}
	if !base.supported() {
		return nil, fmt.Errorf("kernel: compose %s: base variant %s is not supported by this CPU", name, base.name)
	}
	f := base.f
	ops := make([]string, 0, len(choice))
	for op := range choice {
		ops = append(ops, op)
	}
	slices.Sort(ops) // deterministic error messages
	for _, op := range ops {
		k, err := Get(choice[op])
		if err != nil {
			return nil, fmt.Errorf("kernel: compose %s: %s: %w", name, op, err)
		}
		if !takeOp(op, &f, k.f) {
			return nil, fmt.Errorf("kernel: compose %s: unknown operation %q (known: %s)", name, op, strings.Join(Ops, ", "))
		}
	}
	return &Impl{name: name, supported: base.supported, f: f}, nil
}

// SetActive makes k (a variant from Get or Compose) the one the
// package-level functions use.
func SetActive(k *Impl) {
	if k == nil {
		panic("kernel: SetActive(nil)")
	}
	active.Store(k)
}
