//go:build amd64 && !purego

package kernel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// generators lists the avo programs under _asm as gen.go's go:generate lines
// run them: the folder they run in (relative to crypto/kernel), the package
// they run and the output paths they are given (which the generated headers
// record, so they must be the same).
var generators = []struct {
	cwd, pkg   string
	out, stubs string
}{
	{"_asm", ".", "../ifma_amd64.s", "../ifma_stub_amd64.go"},
	{"_asm", "./avx512", "../avx512_amd64.s", "../avx512_stub_amd64.go"},
	{"_asm/avx2", ".", "../../avx2_amd64.s", "../../avx2_stub_amd64.go"},
}

// TestGeneratedAssembly runs every avo generator (as go generate does, with
// the same arguments) in a copy of _asm and requires the committed outputs
// byte for byte. It builds the generators, a few seconds once cached; -short
// skips it.
func TestGeneratedAssembly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the avo generators")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	tmp := t.TempDir()
	if err := os.CopyFS(filepath.Join(tmp, "_asm"), os.DirFS("_asm")); err != nil {
		t.Fatal(err)
	}
	for _, g := range generators {
		cmd := exec.Command(goTool, "run", g.pkg, "-out", g.out, "-stubs", g.stubs, "-pkg", "kernel")
		cmd.Dir = filepath.Join(tmp, g.cwd)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go run %s in %s: %v\n%s", g.pkg, g.cwd, err, out)
		}
		for _, rel := range []string{g.out, g.stubs} {
			name := filepath.Base(rel)
			got, err := os.ReadFile(filepath.Join(tmp, name))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from what %s in %s generates: run go generate ./crypto/kernel and commit", name, g.pkg, g.cwd)
			}
		}
	}
}
