package kernel

// The amd64 assembly is generated with avo by the programs in _asm, a module
// of its own: _asm itself writes ifma_amd64.s and ifma_stub_amd64.go, _asm/avx512
// writes avx512_amd64.s and avx512_stub_amd64.go. Regenerate it with
// `go generate ./crypto/kernel`.

//go:generate sh -c "cd _asm && go run . -out ../ifma_amd64.s -stubs ../ifma_stub_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run ./avx512 -out ../avx512_amd64.s -stubs ../avx512_stub_amd64.go -pkg kernel"
