package kernel

// The amd64 assembly is generated with avo by the programs under _asm, a
// module of its own: _asm itself writes ifma_amd64.s and ifma_stub_amd64.go
// (the avx512 variant's IFMA loops), _asm/avx512 writes avx512_amd64.s and
// avx512_stub_amd64.go (its element-wise loops), _asm/avx2 writes
// avx2_amd64.s and avx2_stub_amd64.go. Regenerate them with
// `go generate ./crypto/kernel`.

//go:generate sh -c "cd _asm && go run . -out ../ifma_amd64.s -stubs ../ifma_stub_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm && go run ./avx512 -out ../avx512_amd64.s -stubs ../avx512_stub_amd64.go -pkg kernel"
//go:generate sh -c "cd _asm/avx2 && go run . -out ../../avx2_amd64.s -stubs ../../avx2_stub_amd64.go -pkg kernel"
