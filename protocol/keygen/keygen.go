package keygen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"

	"github.com/mitai-dev/mitai/crypto/he"
	"github.com/mitai-dev/mitai/protocol"
	"github.com/mitai-dev/mitai/protocol/internal/mesh"
)

const version = 1

// Message kinds.
const (
	kindHello byte = iota + 1
	kindShamir
	kindPublicKey
	kindRelin1
	kindRelin2
	kindDigest
)

var kindNames = map[byte]string{
	kindHello: "hello", kindShamir: "threshold share", kindPublicKey: "public-key share",
	kindRelin1: "relinearization share (round 1)", kindRelin2: "relinearization share (round 2)", kindDigest: "key set digest",
}

// Options configure one party's run. Every party must pass the same JobID,
// Seed, Preset, Parties and Threshold; the hello exchange checks that they do.
type Options struct {
	// JobID identifies the key-generation job.
	JobID string
	// Seed is the job's 32-byte seed (chosen by the coordinator at
	// submission and recorded in its log): the common reference string is
	// derived from SHA-256(seed || job id).
	Seed []byte
	// Preset names the parameter preset; empty means he.DefaultPreset.
	Preset string
	// Parties are all key holders, this party included, in any order.
	Parties []string
	// Threshold is how many parties a later decryption or key switch needs:
	// 0 or len(Parties) for N-of-N; less makes a t-of-N key set with
	// lattigo's Thresholdizer (Shamir shares of every party's secret).
	Threshold int
	// IdleTimeout bounds the wait for any one message; 0 means 2 minutes.
	IdleTimeout time.Duration
}

// Result is what a party ends with.
type Result struct {
	// KeySet is the public key set, identical at every party (checked).
	KeySet *he.KeySet
	// Secret is this party's secret share: keep it on this node only, sealed
	// (Secret.Save) under the node's secret.
	Secret *he.SecretShare
	// BytesSent and BytesReceived count this party's payload bytes.
	BytesSent, BytesReceived uint64
}

// hello is the first message: what every party must agree on.
type hello struct {
	Version   int      `json:"version"`
	Job       string   `json:"job"`
	Preset    string   `json:"preset"`
	Parties   []string `json:"parties"`
	Threshold int      `json:"threshold"`
	// CRS is SHA-256 of the CRS key: parties check that they derived the
	// same common reference string (the seed itself is not secret, but
	// there is no need to send it).
	CRS   string `json:"crs"`
	Relin bool   `json:"relin"`
}

// Run runs one party of the key generation over conns (one connection to
// each other party, keyed by party name) and returns the key set and this
// party's secret share. Every party runs the same role.
func Run(ctx context.Context, self string, conns map[string]protocol.Conn, opts Options) (res *Result, err error) {
	o, preset, err := opts.check()
	if err != nil {
		return nil, err
	}
	meters := map[string]*protocol.Meter{}
	peers := map[string]protocol.Conn{}
	for p, c := range conns {
		meters[p] = protocol.NewMeter(c)
		peers[p] = meters[p]
	}
	net := &mesh.Net{Tag: "keygen", Self: self, Peers: peers, Idle: o.IdleTimeout, Names: kindNames}
	defer func() {
		if err != nil && !errors.Is(err, mesh.ErrAborted) {
			net.AbortAll(err.Error())
		}
	}()
	if err := net.Check(o.Parties); err != nil {
		return nil, err
	}
	master, err := he.CRSMaster(o.Seed, o.JobID)
	if err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	params, err := preset.Params()
	if err != nil {
		return nil, err
	}
	codec, err := he.NewCodec(preset)
	if err != nil {
		return nil, err
	}
	parties := slices.Sorted(slices.Values(o.Parties))

	// 1. Hello.
	crsID := sha256.Sum256(master[:])
	mine := hello{Version: version, Job: o.JobID, Preset: preset.Name, Parties: parties, Threshold: o.Threshold,
		CRS: hex.EncodeToString(crsID[:]), Relin: preset.Relinearization}
	hb, _ := json.Marshal(mine)
	if err := net.Broadcast(ctx, kindHello, hb); err != nil {
		return nil, err
	}
	err = net.RecvAll(ctx, kindHello, 64<<10, func(from string, b []byte) error {
		var h hello
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&h); err != nil {
			return fmt.Errorf("keygen: malformed hello from %s: %w", from, err)
		}
		return compareHello(from, h, mine)
	})
	if err != nil {
		return nil, err
	}

	// 2. This party's secret s_i; it never leaves this function except in
	// the returned share.
	sk := rlwe.NewKeyGenerator(params).GenSecretKeyNew()
	share := &he.SecretShare{Preset: preset, Party: self, Secret: sk}
	defer func() {
		if err != nil {
			share.Erase()
		}
	}()

	// 3. t-of-N: Shamir-share s_i among all parties.
	if o.Threshold < len(parties) {
		if share.Threshold, err = thresholdize(ctx, net, codec, params, parties, o.Threshold, self, sk); err != nil {
			return nil, err
		}
	}

	// 4. Public key: broadcast p0_i = -a·s_i + e_i, sum everybody's.
	ckg := mhe.NewPublicKeyGenProtocol(params)
	crp := ckg.SampleCRP(he.CRS(master, "pk"))
	pkShare := ckg.AllocateShare()
	ckg.GenShare(sk, crp, &pkShare)
	agg, err := exchange(ctx, net, codec, kindPublicKey, &pkShare,
		func(b []byte) (*mhe.PublicKeyGenShare, error) { return codec.UnmarshalPublicKeyShare(b) },
		func(acc, s *mhe.PublicKeyGenShare) { ckg.AggregateShares(*acc, *s, acc) })
	if err != nil {
		return nil, err
	}

	// 5. Relinearization key, only for presets whose circuits multiply.
	var rlk *rlwe.RelinearizationKey
	if preset.Relinearization {
		if rlk, err = relinearizationKey(ctx, net, codec, params, master, sk); err != nil {
			return nil, err
		}
	}

	ks, err := he.NewKeySet(preset, parties, o.Threshold, master, agg, rlk)
	if err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	share.KeySet = ks.Digest()

	// 6. Everybody checks that everybody holds the same key set.
	d := ks.Digest()
	if err := net.Broadcast(ctx, kindDigest, d[:]); err != nil {
		return nil, err
	}
	err = net.RecvAll(ctx, kindDigest, 32, func(from string, b []byte) error {
		if !bytes.Equal(b, d[:]) {
			return fmt.Errorf("keygen: %s computed key set %x..., we computed %x...", from, b[:min(8, len(b))], d[:8])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res = &Result{KeySet: ks, Secret: share}
	for _, m := range meters {
		res.BytesSent += m.BytesSent()
		res.BytesReceived += m.BytesReceived()
	}
	return res, nil
}

func (o Options) check() (Options, *he.Preset, error) {
	if o.JobID == "" {
		return o, nil, errors.New("keygen: job id required")
	}
	if len(o.Seed) != 32 {
		return o, nil, fmt.Errorf("keygen: seed of %d bytes, want 32", len(o.Seed))
	}
	if o.Preset == "" {
		o.Preset = he.DefaultPreset
	}
	p, err := he.PresetByName(o.Preset)
	if err != nil {
		return o, nil, err
	}
	if len(o.Parties) < 2 || len(o.Parties) > he.MaxParties {
		return o, nil, fmt.Errorf("keygen: %d parties, need 2 to %d", len(o.Parties), he.MaxParties)
	}
	if o.Threshold == 0 {
		o.Threshold = len(o.Parties)
	}
	if o.Threshold < 1 || o.Threshold > len(o.Parties) {
		return o, nil, fmt.Errorf("keygen: threshold %d outside 1..%d", o.Threshold, len(o.Parties))
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	return o, p, nil
}

func compareHello(from string, h, mine hello) error {
	switch {
	case h.Version != mine.Version:
		return fmt.Errorf("keygen: %s speaks version %d, we speak %d", from, h.Version, mine.Version)
	case h.Job != mine.Job:
		return fmt.Errorf("keygen: %s runs job %q, we run %q", from, h.Job, mine.Job)
	case h.Preset != mine.Preset:
		return fmt.Errorf("keygen: %s uses preset %s, we use %s", from, h.Preset, mine.Preset)
	case !slices.Equal(h.Parties, mine.Parties):
		return fmt.Errorf("keygen: %s has parties %v, we have %v", from, h.Parties, mine.Parties)
	case h.Threshold != mine.Threshold:
		return fmt.Errorf("keygen: %s wants threshold %d, we want %d", from, h.Threshold, mine.Threshold)
	case h.CRS != mine.CRS:
		return fmt.Errorf("keygen: %s derived another common reference string (different seed)", from)
	case h.Relin != mine.Relin:
		return fmt.Errorf("keygen: %s disagrees on the relinearization key", from)
	}
	return nil
}

// exchange broadcasts this party's share, receives every peer's, and
// returns the sum of all.
func exchange[S interface {
	BinarySize() int
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}](ctx context.Context, net *mesh.Net, codec *he.Codec, kind byte, own S,
	decode func([]byte) (S, error), add func(acc, s S)) (S, error) {
	var zero S
	b, err := codec.Marshal(own)
	if err != nil {
		return zero, fmt.Errorf("keygen: encode share: %w", err)
	}
	if err := net.Broadcast(ctx, kind, b); err != nil {
		return zero, err
	}
	var mu sync.Mutex
	acc := own
	err = net.RecvAll(ctx, kind, len(b), func(from string, p []byte) error {
		s, err := decode(p)
		if err != nil {
			return fmt.Errorf("keygen: %s from %s: %w", kindNames[kind], from, err)
		}
		mu.Lock()
		add(acc, s)
		mu.Unlock()
		return nil
	})
	return acc, err
}

// thresholdize runs lattigo's Thresholdizer: this party Shamir-shares its
// s_i with threshold t, sends party j its share at j's point over their
// (confidential) connection, and sums the shares it receives into its
// share of the collective secret.
func thresholdize(ctx context.Context, net *mesh.Net, codec *he.Codec, params rlwe.ParameterProvider,
	parties []string, t int, self string, sk *rlwe.SecretKey) (*mhe.ShamirSecretShare, error) {
	thr := mhe.NewThresholdizer(params)
	poly, err := thr.GenShamirPolynomial(t, sk)
	if err != nil {
		return nil, fmt.Errorf("keygen: shamir polynomial: %w", err)
	}
	defer eraseShamir(poly)
	point := func(p string) mhe.ShamirPublicPoint {
		i, _ := slices.BinarySearch(parties, p)
		return mhe.ShamirPublicPoint(i + 1)
	}
	acc := thr.AllocateThresholdSecretShare()
	thr.GenShamirSecretShare(point(self), poly, &acc)
	size := 0
	for _, p := range net.Others() {
		s := thr.AllocateThresholdSecretShare()
		thr.GenShamirSecretShare(point(p), poly, &s)
		b, err := codec.Marshal(&s)
		if err != nil {
			return nil, err
		}
		size = len(b)
		if err := net.Send(ctx, p, kindShamir, b); err != nil {
			return nil, err
		}
	}
	var mu sync.Mutex
	err = net.RecvAll(ctx, kindShamir, size, func(from string, b []byte) error {
		s, err := codec.UnmarshalShamirShare(b)
		if err != nil {
			return fmt.Errorf("keygen: threshold share from %s: %w", from, err)
		}
		mu.Lock()
		defer mu.Unlock()
		return thr.AggregateShares(acc, *s, &acc)
	})
	if err != nil {
		return nil, err
	}
	return &acc, nil
}

func eraseShamir(p mhe.ShamirPolynomial) {
	for _, c := range p.Value {
		for _, row := range c.Q.Coeffs {
			clear(row)
		}
		for _, row := range c.P.Coeffs {
			clear(row)
		}
	}
}

// relinearizationKey runs lattigo's two-round relinearization-key protocol.
func relinearizationKey(ctx context.Context, net *mesh.Net, codec *he.Codec, params rlwe.ParameterProvider,
	master [32]byte, sk *rlwe.SecretKey) (*rlwe.RelinearizationKey, error) {
	rkg := mhe.NewRelinearizationKeyGenProtocol(params)
	crp := rkg.SampleCRP(he.CRS(master, "rlk"))
	eph, r1, r2 := rkg.AllocateShare()
	defer func() {
		for _, row := range eph.Value.Q.Coeffs {
			clear(row)
		}
		for _, row := range eph.Value.P.Coeffs {
			clear(row)
		}
	}()
	rkg.GenShareRoundOne(sk, crp, eph, &r1)
	decode := func(b []byte) (*mhe.RelinearizationKeyGenShare, error) { return codec.UnmarshalRelinShare(b) }
	add := func(acc, s *mhe.RelinearizationKeyGenShare) { rkg.AggregateShares(*acc, *s, acc) }
	agg1, err := exchange(ctx, net, codec, kindRelin1, &r1, decode, add)
	if err != nil {
		return nil, err
	}
	rkg.GenShareRoundTwo(eph, sk, *agg1, &r2)
	agg2, err := exchange(ctx, net, codec, kindRelin2, &r2, decode, add)
	if err != nil {
		return nil, err
	}
	rlk := rlwe.NewRelinearizationKey(params)
	rkg.GenRelinearizationKey(*agg1, *agg2, rlk)
	return rlk, nil
}
