package node

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/mtls"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
	"github.com/mitai-dev/mitai/protocol/psi"
)

// cluster is a set of in-process nodes with real gRPC over mutual TLS on
// loopback, and one CA.
type cluster struct {
	t     *testing.T
	dir   string
	ca    *pki.CA
	nodes map[string]*Node
	certs int
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, dir: dir, ca: ca, nodes: map[string]*Node{}}
}

// creds issues and saves a certificate of party by ca, returning the file paths.
func (c *cluster) creds(ca *pki.CA, party, name string) (certFile, keyFile string) {
	c.t.Helper()
	cr, err := ca.Issue(pki.IssueRequest{Party: party, Node: "n1", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		c.t.Fatal(err)
	}
	dir := filepath.Join(c.dir, "pki")
	if err := cr.Save(dir, name); err != nil {
		c.t.Fatal(err)
	}
	return filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
}

func (c *cluster) caFile() string {
	p := filepath.Join(c.dir, "ca.crt")
	if _, err := os.Stat(p); err != nil {
		if err := os.WriteFile(p, c.ca.CertPEM, 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	return p
}

// start starts a node of party with the given datasets (name -> CSV text, policy).
func (c *cluster) start(party string, edit func(*Config), sets ...DatasetConfig) *Node {
	c.t.Helper()
	c.certs++
	certFile, keyFile := c.creds(c.ca, party, fmt.Sprintf("%s-%d", party, c.certs))
	cfg := DefaultConfig()
	cfg.Party = party
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(c.dir, party)
	cfg.TLS = TLSFiles{CA: c.caFile(), Cert: certFile, Key: keyFile}
	cfg.Datasets = sets
	cfg.PeerIdleTimeout = 5 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		c.t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { n.Stop(time.Second) })
	c.nodes[party] = n
	return n
}

// csvFile writes a CSV file and returns its path.
func (c *cluster) csvFile(name, text string) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func policy(partners []string, modes []string, reveal map[string][]string, min uint64) PolicyConfig {
	return PolicyConfig{Partners: partners, Modes: modes, Reveal: reveal, MinIntersection: min}
}

func spec(mode psi.Mode, peerAddr string, receivers []string, columns []string) *mitaiv1.TaskSpec {
	return NewPSITask(&mitaiv1.Participant{Party: "bank", Dataset: "customers"},
		&mitaiv1.Participant{Party: "telco", Dataset: "subscribers", Address: peerAddr},
		receivers, &mitaiv1.PsiParams{Mode: mode.Proto(), Columns: columns})
}

const bankCSV = "id,name,income\n1,张三,100\n2,\"Li, Si\",200\n3,Wang,300\n4,Zhao,400\n"
const telcoCSV = "id,segment,spend\n3,postpaid,33.5\n9,prepaid,1\n1,\"business, \"\"gold\"\"\",10\n7,prepaid,2\n"

func standardCluster(t *testing.T, telcoPolicy PolicyConfig) (*cluster, *Node, *Node) {
	c := newCluster(t)
	bank := c.start("bank", nil, DatasetConfig{Name: "customers", Path: c.csvFile("bank.csv", bankCSV), Key: "id",
		Policy: policy([]string{"telco", "bureau"}, []string{"intersection", "cardinality", "join"}, nil, 0)})
	telco := c.start("telco", nil, DatasetConfig{Name: "subscribers", Path: c.csvFile("telco.csv", telcoCSV), Key: "id", Policy: telcoPolicy})
	return c, bank, telco
}

func readResult(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestJoinOverGRPC(t *testing.T) {
	t.Parallel()
	_, bank, telco := standardCluster(t, policy([]string{"bank"}, []string{"join"}, map[string][]string{"bank": {"segment", "spend"}}, 0))
	rep, err := bank.Executor().Run(context.Background(), spec(psi.Join, telco.Addr(), []string{"bank"}, []string{"segment", "spend"}))
	if err != nil {
		t.Fatal(err)
	}
	got := readResult(t, rep.ResultPath)
	want := [][]string{
		{"id", "name", "income", "telco.segment", "telco.spend"},
		{"1", "张三", "100", `business, "gold"`, "10"},
		{"3", "Wang", "300", "postpaid", "33.5"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("result %q, want %q", got, want)
	}
	if rep.IntersectionSize != 2 || rep.BytesSent == 0 || rep.BytesReceived == 0 || len(rep.Learned) != 2 {
		t.Fatalf("report %+v", rep)
	}
	// Results are written atomically: no temporary file is left behind.
	entries, _ := os.ReadDir(filepath.Dir(rep.ResultPath))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temporary file %s left in the results folder", e.Name())
		}
	}
}

func TestIntersectionBothReceive(t *testing.T) {
	t.Parallel()
	_, bank, telco := standardCluster(t, policy([]string{"bank"}, []string{"intersection"}, nil, 0))
	s := spec(psi.Intersection, telco.Addr(), []string{"bank", "telco"}, nil)
	rep, err := bank.Executor().Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if got := readResult(t, rep.ResultPath); !slices.EqualFunc(got, [][]string{{"id"}, {"1"}, {"3"}}, slices.Equal) {
		t.Fatalf("bank result %q", got)
	}
	// telco received it too, in its own row order.
	telcoResult := telco.Executor().resultPath(s)
	if got := readResult(t, telcoResult); !slices.EqualFunc(got, [][]string{{"id"}, {"3"}, {"1"}}, slices.Equal) {
		t.Fatalf("telco result %q", got)
	}
}

func TestCardinalityToPeer(t *testing.T) {
	t.Parallel()
	_, bank, telco := standardCluster(t, policy([]string{"bank"}, []string{"cardinality"}, nil, 0))
	s := spec(psi.Cardinality, telco.Addr(), []string{"telco"}, nil)
	rep, err := bank.Executor().Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if rep.IntersectionKnown || rep.ResultPath != "" || rep.Role != "sender" {
		t.Fatalf("bank learned more than it should: %+v", rep)
	}
	if got := readResult(t, telco.Executor().resultPath(s)); !slices.EqualFunc(got, [][]string{{"intersection_size"}, {"2"}}, slices.Equal) {
		t.Fatalf("telco result %q", got)
	}
}

func TestPolicyRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		policy PolicyConfig
		spec   func(addr string) *mitaiv1.TaskSpec
		want   string
	}{
		{"partner not allowed", policy([]string{"bureau"}, []string{"join"}, nil, 0),
			func(a string) *mitaiv1.TaskSpec { return spec(psi.Intersection, a, []string{"bank"}, nil) }, `party "bank" is not an allowed partner`},
		{"mode not allowed", policy([]string{"bank"}, []string{"cardinality"}, nil, 0),
			func(a string) *mitaiv1.TaskSpec { return spec(psi.Intersection, a, []string{"bank"}, nil) }, `mode "intersection" is not allowed`},
		{"column not revealable", policy([]string{"bank"}, []string{"join"}, map[string][]string{"bank": {"segment"}}, 0),
			func(a string) *mitaiv1.TaskSpec {
				return spec(psi.Join, a, []string{"bank"}, []string{"segment", "spend"})
			}, `column "spend" may not be revealed`},
		{"expired", PolicyConfig{Partners: []string{"bank"}, Modes: []string{"intersection"}, Expires: time.Now().Add(-time.Hour)},
			func(a string) *mitaiv1.TaskSpec { return spec(psi.Intersection, a, []string{"bank"}, nil) }, "expired"},
		{"below minimum", policy([]string{"bank"}, []string{"intersection"}, nil, 3),
			func(a string) *mitaiv1.TaskSpec { return spec(psi.Intersection, a, []string{"bank"}, nil) }, "below the minimum"},
		{"unknown dataset", policy([]string{"bank"}, []string{"intersection"}, nil, 0),
			func(a string) *mitaiv1.TaskSpec {
				s := spec(psi.Intersection, a, []string{"bank"}, nil)
				s.Participants[1].Dataset = "nope"
				return s
			}, "unknown dataset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, bank, telco := standardCluster(t, tc.policy)
			s := tc.spec(telco.Addr())
			_, err := bank.Executor().Run(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if _, err := os.Stat(bank.Executor().resultPath(s)); err == nil {
				t.Fatal("a result was written despite the refusal")
			}
		})
	}
}

func TestPeerCertificateChecks(t *testing.T) {
	t.Parallel()
	c, bank, telco := standardCluster(t, policy([]string{"bank"}, []string{"intersection"}, nil, 0))

	t.Run("peer certificate names another party", func(t *testing.T) {
		s := spec(psi.Intersection, telco.Addr(), []string{"bank"}, nil)
		s.Participants[1].Party = "bureau" // telco's node answers at that address
		_, err := bank.Executor().Run(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), "authentication handshake failed") || !strings.Contains(err.Error(), "expected") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("node with a certificate from another CA", func(t *testing.T) {
		other, err := pki.NewCA("rogue CA", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := c.creds(other, "bank", "rogue-bank")
		rogue := c.start("bank", func(cfg *Config) {
			cfg.DataDir = filepath.Join(c.dir, "rogue")
			cfg.TLS.Cert, cfg.TLS.Key = certFile, keyFile
			otherCA := filepath.Join(c.dir, "other-ca.crt")
			_ = os.WriteFile(otherCA, append(append([]byte{}, other.CertPEM...), c.ca.CertPEM...), 0o644)
			cfg.TLS.CA = otherCA
		}, DatasetConfig{Name: "customers", Path: c.csvFile("rogue.csv", bankCSV), Key: "id",
			Policy: policy([]string{"telco"}, []string{"intersection"}, nil, 0)})
		_, err = rogue.Executor().Run(context.Background(), spec(psi.Intersection, telco.Addr(), []string{"bank"}, nil))
		if err == nil {
			t.Fatal("telco accepted a client certificate from another CA")
		}
	})

	t.Run("admin API refuses another party", func(t *testing.T) {
		certFile, keyFile := c.creds(c.ca, "telco", "telco-admin")
		cert, err := pki.LoadCredentials(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		opts, err := mtls.DialOptions(cert, c.ca.CertPEM, bank.Addr(), "bank")
		if err != nil {
			t.Fatal(err)
		}
		cc, err := grpc.NewClient(bank.Addr(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		_, err = mitaiv1.NewNodeAdminClient(cc).ListDatasets(context.Background(), &mitaiv1.ListDatasetsRequest{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("got %v, want PermissionDenied", err)
		}
	})
}

func TestOfferMustMatchCertificate(t *testing.T) {
	t.Parallel()
	c, _, telco := standardCluster(t, policy([]string{"bank"}, []string{"intersection"}, nil, 0))
	// A node of party "bureau" offers a task claiming to be bank.
	bureau := c.start("bureau", nil, DatasetConfig{Name: "customers", Path: c.csvFile("bureau.csv", bankCSV), Key: "id",
		Policy: policy([]string{"telco"}, []string{"intersection"}, nil, 0)})
	s := spec(psi.Intersection, telco.Addr(), []string{"bank"}, nil)
	pl, err := planTask(s, "bank")
	if err != nil {
		t.Fatal(err)
	}
	stream, err := bureau.exec.dialer.openTask(context.Background(), pl.peer)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.cc.Close()
	if err := stream.Send(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Offer{Offer: s}}); err != nil {
		t.Fatal(err)
	}
	f, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if a := f.GetAnswer(); a == nil || a.Accepted || !strings.Contains(a.Reason, `certificate is party "bureau"`) {
		t.Fatalf("answer %v", f)
	}
}

func TestDatasetProblems(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	dup := c.csvFile("dup.csv", "id,x\n1,a\n2,b\n1,c\n")
	bank := c.start("bank", nil, DatasetConfig{Name: "customers", Path: dup, Key: "id",
		Policy: policy([]string{"telco"}, []string{"intersection"}, nil, 0)})
	telco := c.start("telco", nil, DatasetConfig{Name: "subscribers", Path: c.csvFile("t.csv", telcoCSV), Key: "id",
		Policy: policy([]string{"bank"}, []string{"intersection"}, nil, 0)})
	info, err := bank.Registry().Get("customers")
	if err != nil || info.DuplicateKeys != 1 {
		t.Fatalf("registration: %v, %+v", err, info)
	}
	_, err = bank.Executor().Run(context.Background(), spec(psi.Intersection, telco.Addr(), []string{"bank"}, nil))
	if err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate keys without dedupe: got %v", err)
	}
	s := spec(psi.Intersection, telco.Addr(), []string{"bank"}, nil)
	s.Psi.Dedupe = true
	rep, err := bank.Executor().Run(context.Background(), s)
	if err != nil || rep.IntersectionSize != 1 {
		t.Fatalf("dedupe: %v %+v", err, rep)
	}

	// The peer is not told which keys repeat: that error names them.
	_, err = telco.Executor().Run(context.Background(), &mitaiv1.TaskSpec{
		JobId: NewJobID(), TaskId: "t0", Kind: "psi",
		Participants: []*mitaiv1.Participant{
			{Party: "telco", Dataset: "subscribers"},
			{Party: "bank", Dataset: "customers", Address: bank.Addr()},
		},
		Receivers: []string{"telco"},
		Psi:       &mitaiv1.PsiParams{Mode: psi.Intersection.Proto()},
	})
	if err == nil || strings.Contains(err.Error(), `"1"`) || !strings.Contains(err.Error(), "could not be used") {
		t.Fatalf("peer's view of a dataset error: %v", err)
	}

	// A file changed after registration is refused, not silently used.
	if err := os.WriteFile(dup, []byte("id,x\n1,a\n3,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = bank.Executor().Run(context.Background(), spec(psi.Intersection, telco.Addr(), []string{"bank"}, nil))
	if err == nil || !strings.Contains(err.Error(), "changed since it was registered") {
		t.Fatalf("changed file: got %v", err)
	}

	// Registration errors are clear.
	for name, text := range map[string]string{"empty.csv": "", "header.csv": "id,x\n", "nokey.csv": "a,b\n1,2\n", "emptykey.csv": "id,x\n,1\n"} {
		_, err := bank.Registry().Add(&mitaiv1.AddDatasetRequest{Name: "bad", Path: c.csvFile(name, text), KeyColumn: "id",
			Policy: &mitaiv1.Policy{Partners: []string{"telco"}, Modes: []string{"intersection"}}}, time.Now())
		if err == nil {
			t.Errorf("%s registered", name)
		}
	}
}

// silentPeer is a Peer service that accepts every task and then never sends.
type silentPeer struct {
	mitaiv1.UnimplementedPeerServer
}

func (silentPeer) Task(stream grpc.BidiStreamingServer[mitaiv1.PeerFrame, mitaiv1.PeerFrame]) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	if err := stream.Send(&mitaiv1.PeerFrame{Kind: &mitaiv1.PeerFrame_Answer{Answer: &mitaiv1.TaskAnswer{Accepted: true}}}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// TestSilentPeer: a peer that accepts the task and then never answers ends
// the task by the idle timeout, not by hanging.
func TestSilentPeer(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	bank := c.start("bank", func(cfg *Config) { cfg.PeerIdleTimeout = 500 * time.Millisecond },
		DatasetConfig{Name: "customers", Path: c.csvFile("bank.csv", bankCSV), Key: "id",
			Policy: policy([]string{"telco"}, []string{"intersection"}, nil, 0)})
	certFile, keyFile := c.creds(c.ca, "telco", "telco-silent")
	cert, err := pki.LoadCredentials(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := pki.ServerConfig(cert, c.ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	mitaiv1.RegisterPeerServer(srv, silentPeer{})
	go srv.Serve(lis)
	defer srv.Stop()

	start := time.Now()
	_, err = bank.Executor().Run(context.Background(), spec(psi.Intersection, lis.Addr().String(), []string{"bank"}, nil))
	if err == nil || !strings.Contains(err.Error(), "sent nothing") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestPlanTask(t *testing.T) {
	t.Parallel()
	base := func() *mitaiv1.TaskSpec { return spec(psi.Join, "x:1", []string{"bank"}, []string{"a"}) }
	for _, tc := range []struct {
		name string
		edit func(*mitaiv1.TaskSpec)
	}{
		{"bad job id", func(s *mitaiv1.TaskSpec) { s.JobId = "../etc" }},
		{"kind", func(s *mitaiv1.TaskSpec) { s.Kind = "vlr" }},
		{"one participant", func(s *mitaiv1.TaskSpec) { s.Participants = s.Participants[:1] }},
		{"same party twice", func(s *mitaiv1.TaskSpec) { s.Participants[1].Party = "bank" }},
		{"receiver not participant", func(s *mitaiv1.TaskSpec) { s.Receivers = []string{"bureau"} }},
		{"join to both", func(s *mitaiv1.TaskSpec) { s.Receivers = []string{"bank", "telco"} }},
		{"columns outside join", func(s *mitaiv1.TaskSpec) { s.Psi.Mode = psi.Intersection.Proto() }},
		{"duplicate column", func(s *mitaiv1.TaskSpec) { s.Psi.Columns = []string{"a", "a"} }},
		{"no mode", func(s *mitaiv1.TaskSpec) { s.Psi.Mode = 0 }},
	} {
		s := base()
		tc.edit(s)
		if _, err := planTask(s, "bank"); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := planTask(base(), "bureau"); err == nil {
		t.Error("non-participant accepted")
	}
	pl, err := planTask(base(), "telco")
	if err != nil || pl.receiver || fmt.Sprint(pl.reveal) != "[a]" {
		t.Fatalf("telco plan %+v, %v", pl, err)
	}
}
