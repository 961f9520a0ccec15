package mesh

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mitai-dev/mitai/protocol"
)

func pair(t *testing.T) (*Net, *protocol.PipeEnd) {
	t.Helper()
	a, b := protocol.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return &Net{Tag: "test", Self: "a", Peers: map[string]protocol.Conn{"b": a}, Idle: 200 * time.Millisecond,
		Names: map[byte]string{1: "hello", 2: "share"}}, b
}

func TestRecv(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		send []byte
		want string
	}{
		{"empty", []byte{}, "empty message"},
		{"wrong kind", []byte{2, 1}, "sent a share, expected its hello"},
		{"too long", append([]byte{1}, make([]byte, 11)...), "more than the limit 10"},
		{"abort", append([]byte{Abort}, "no way"...), `b stopped: "no way"`},
	} {
		n, peer := pair(t)
		_ = peer.Send(ctx, tc.send)
		_, err := n.Recv(ctx, "b", 1, 10)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		var pe *PeerError
		if !errors.As(err, &pe) || pe.Peer != "b" {
			t.Errorf("%s: not a PeerError naming b", tc.name)
		}
	}
	n, peer := pair(t)
	if _, err := n.Recv(ctx, "b", 1, 10); err == nil || !strings.Contains(err.Error(), "sent nothing") {
		t.Errorf("silence: %v", err)
	}
	peer.Close()
	if _, err := n.Recv(ctx, "b", 1, 10); !errors.Is(err, protocol.ErrClosed) {
		t.Errorf("closed: %v", err)
	}
	n, peer = pair(t)
	f := append(Frame(1, 3), 7, 8, 9)
	if err := n.SendFrame(ctx, "b", f); err != nil {
		t.Fatal(err)
	}
	if m, _ := peer.Recv(ctx); string(m) != "\x01\x07\x08\x09" {
		t.Fatalf("frame %q", m)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	n, _ := pair(t)
	for _, tc := range []struct {
		parties []string
		want    string
	}{
		{[]string{"a", "b"}, ""},
		{[]string{"b", "a"}, ""},
		{[]string{"a", "a", "b"}, "twice"},
		{[]string{"b", "c"}, "not among"},
		{[]string{"a", "b", "c"}, "connections"},
		{[]string{"a", "c"}, "not a party"},
		{[]string{"a", ""}, "empty"},
	} {
		err := n.Check(tc.parties)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.parties, err, tc.want)
		}
	}
}
