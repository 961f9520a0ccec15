package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"
)

// cluster is a CA and certificates of two parties, plus an impostor CA with
// the same name and certificates from it under the same party names.
type cluster struct {
	ca, otherCA                  *CA
	server, client               tls.Certificate // issued by ca
	otherServer, otherClient     tls.Certificate // issued by otherCA
	strangerClient               tls.Certificate // issued by a CA with another name
	expiredServer, expiredClient tls.Certificate // issued by ca, expired an hour ago
	futureClient                 tls.Certificate // issued by ca, valid from tomorrow
	badNameClient                tls.Certificate // issued by ca with CN "Bad Party"
	clientOnlyServer             tls.Certificate // issued by ca, ExtKeyUsage ClientAuth only
	bothCAs                      []byte          // ca and otherCA, PEM
	strangerCAs                  []byte          // ca and the stranger's CA, PEM
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{ca: newTestCA(t, "cluster"), otherCA: newTestCA(t, "cluster")}
	server := IssueRequest{Party: "bank", Node: "n1", Hosts: []string{"localhost", "127.0.0.1"}, Validity: time.Hour}
	client := IssueRequest{Party: "telco", Node: "n1", Validity: time.Hour}
	c.server = issueCert(t, c.ca, server)
	c.client = issueCert(t, c.ca, client)
	c.otherServer = issueCert(t, c.otherCA, server)
	c.otherClient = issueCert(t, c.otherCA, client)

	past, now := time.Now().Add(-2*time.Hour), time.Now()
	for _, x := range []struct {
		dst    *tls.Certificate
		req    IssueRequest
		nb, na time.Time
	}{
		{&c.expiredServer, server, past, now.Add(-time.Hour)},
		{&c.expiredClient, client, past, now.Add(-time.Hour)},
		{&c.futureClient, client, now.Add(23 * time.Hour), now.Add(24 * time.Hour)},
	} {
		creds, err := c.ca.issue(x.req, x.nb, x.na)
		if err != nil {
			t.Fatal(err)
		}
		*x.dst = keyPair(t, creds)
	}
	c.badNameClient = rawLeaf(t, c.ca, "Bad Party", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil)
	c.clientOnlyServer = rawLeaf(t, c.ca, "bank", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, []string{"localhost"})
	stranger := newTestCA(t, "elsewhere")
	c.strangerClient = issueCert(t, stranger, client)
	c.strangerCAs = append(append([]byte{}, c.ca.CertPEM...), stranger.CertPEM...)
	c.bothCAs = append(append([]byte{}, c.ca.CertPEM...), c.otherCA.CertPEM...)
	return c
}

// rawLeaf signs a leaf certificate that Issue would refuse to make.
func rawLeaf(t *testing.T, ca *CA, cn string, usage []x509.ExtKeyUsage, dns []string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           usage,
		BasicConstraintsValid: true,
		DNSNames:              dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	tests := []struct {
		name       string
		serverName string
		caPEM      []byte // both sides
	}{
		{"by DNS name", "localhost", c.ca.CertPEM},
		{"by IP address", "127.0.0.1", c.ca.CertPEM},
		{"CA bundle during rotation", "localhost", c.bothCAs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := handshake(t, serverConfig(t, c.server, tt.caPEM), clientConfig(t, c.client, tt.caPEM, tt.serverName))
			if res.serverErr != nil || res.clientErr != nil {
				t.Fatalf("server error: %v; client error: %v", res.serverErr, res.clientErr)
			}
			if res.serverSaw != "telco" {
				t.Errorf("server sees party %q, want telco", res.serverSaw)
			}
			if res.clientSaw != "bank" {
				t.Errorf("client sees party %q, want bank", res.clientSaw)
			}
			for side, st := range map[string]tls.ConnectionState{"server": res.serverState, "client": res.clientState} {
				if st.Version != tls.VersionTLS13 {
					t.Errorf("%s: version %x, want TLS 1.3", side, st.Version)
				}
			}
			if got, want := Fingerprint(res.clientState.PeerCertificates[0]), Fingerprint(c.server.Leaf); got != want {
				t.Errorf("client saw server certificate %s, want %s", got, want)
			}
		})
	}
}

func TestHandshakeFails(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	type configs struct{ server, client *tls.Config }
	tests := []struct {
		name string
		// setup returns the two sides' configurations.
		setup func(t *testing.T) configs
		// wantServer and wantClient are substrings of the errors each side
		// must see; "" means that side's error is not checked (it is usually
		// the remote alert or EOF caused by the other side's rejection).
		wantServer, wantClient string
	}{
		{
			name: "client certificate from an impostor CA of the same name",
			setup: func(t *testing.T) configs {
				return configs{
					serverConfig(t, c.server, c.ca.CertPEM),
					clientConfig(t, c.otherClient, c.bothCAs, "localhost"),
				}
			},
			wantServer: "certificate signed by unknown authority",
			wantClient: "unknown certificate authority",
		},
		{
			// The server names its CA in the CertificateRequest, so the
			// client does not even send a certificate from another CA.
			name: "client certificate from a CA of another name",
			setup: func(t *testing.T) configs {
				return configs{
					serverConfig(t, c.server, c.ca.CertPEM),
					clientConfig(t, c.strangerClient, c.strangerCAs, "localhost"),
				}
			},
			wantServer: "client didn't provide a certificate",
			wantClient: "certificate required",
		},
		{
			name: "server certificate from another CA",
			setup: func(t *testing.T) configs {
				return configs{
					serverConfig(t, c.otherServer, c.bothCAs),
					clientConfig(t, c.client, c.ca.CertPEM, "localhost"),
				}
			},
			wantClient: "certificate signed by unknown authority",
		},
		{
			name: "client without certificate",
			setup: func(t *testing.T) configs {
				cli := clientConfig(t, c.client, c.ca.CertPEM, "localhost")
				cli.Certificates = nil
				return configs{serverConfig(t, c.server, c.ca.CertPEM), cli}
			},
			wantServer: "client didn't provide a certificate",
			wantClient: "certificate required",
		},
		{
			name: "TLS 1.2 client",
			setup: func(t *testing.T) configs {
				cli := clientConfig(t, c.client, c.ca.CertPEM, "localhost")
				cli.MinVersion, cli.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
				return configs{serverConfig(t, c.server, c.ca.CertPEM), cli}
			},
			wantServer: "unsupported versions",
			wantClient: "protocol version not supported",
		},
		{
			name: "TLS 1.2 server",
			setup: func(t *testing.T) configs {
				srv := serverConfig(t, c.server, c.ca.CertPEM)
				srv.MinVersion, srv.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
				return configs{srv, clientConfig(t, c.client, c.ca.CertPEM, "localhost")}
			},
			wantClient: "protocol version not supported",
		},
		{
			name: "expired client certificate",
			setup: func(t *testing.T) configs {
				return configs{
					serverConfig(t, c.server, c.ca.CertPEM),
					clientConfig(t, c.expiredClient, c.ca.CertPEM, "localhost"),
				}
			},
			wantServer: "certificate has expired",
		},
		{
			name: "client certificate not yet valid",
			setup: func(t *testing.T) configs {
				return configs{
					serverConfig(t, c.server, c.ca.CertPEM),
					clientConfig(t, c.futureClient, c.ca.CertPEM, "localhost"),
				}
			},
			wantServer: "not yet valid",
		},
		{
			name: "expired server certificate",
			setup: func(t *testing.T) configs {
				return configs{
					serverConfig(t, c.expiredServer, c.ca.CertPEM),
					clientConfig(t, c.client, c.ca.CertPEM, "localhost"),
				}
			},
			wantClient: "certificate has expired",
		},
		{
			name: "wrong server name",
			setup: func(t *testing.T) configs {
				return configs{
					serverConfig(t, c.server, c.ca.CertPEM),
					clientConfig(t, c.client, c.ca.CertPEM, "bank.example"),
				}
			},
			wantClient: "not bank.example",
		},
		{
			name: "no server name",
			setup: func(t *testing.T) configs {
				return configs{
					serverConfig(t, c.server, c.ca.CertPEM),
					clientConfig(t, c.client, c.ca.CertPEM, ""),
				}
			},
			wantClient: "ServerName",
		},
		{
			name: "client skips verification",
			setup: func(t *testing.T) configs {
				cli := clientConfig(t, c.client, c.ca.CertPEM, "localhost")
				cli.InsecureSkipVerify = true // PartyOf must still refuse to name the server
				return configs{serverConfig(t, c.server, c.ca.CertPEM), cli}
			},
			wantClient: "peer certificate was not verified",
		},
		{
			name: "client certificate without a party name",
			setup: func(t *testing.T) configs {
				cli := clientConfig(t, c.client, c.ca.CertPEM, "localhost")
				cli.Certificates = []tls.Certificate{c.badNameClient}
				return configs{serverConfig(t, c.server, c.ca.CertPEM), cli}
			},
			wantServer: "party name",
		},
		{
			name: "server certificate without server auth",
			setup: func(t *testing.T) configs {
				srv := serverConfig(t, c.server, c.ca.CertPEM)
				srv.Certificates = []tls.Certificate{c.clientOnlyServer}
				return configs{srv, clientConfig(t, c.client, c.ca.CertPEM, "localhost")}
			},
			wantClient: "incompatible key usage",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.setup(t)
			res := handshake(t, cfg.server, cfg.client)
			if res.serverErr == nil && res.clientErr == nil {
				t.Fatalf("handshake succeeded: server saw %q, client saw %q", res.serverSaw, res.clientSaw)
			}
			check := func(side string, err error, want string) {
				if want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
					t.Errorf("%s error = %v, want one containing %q", side, err, want)
				}
			}
			check("server", res.serverErr, tt.wantServer)
			check("client", res.clientErr, tt.wantClient)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	noKey := c.server
	noKey.PrivateKey = nil
	wrongKey := c.server
	wrongKey.PrivateKey = c.client.PrivateKey
	noLeaf := c.server
	noLeaf.Leaf = nil // parsed from Certificate[0]
	caAsLeaf := tls.Certificate{Certificate: [][]byte{c.ca.Cert.Raw}, PrivateKey: c.ca.Key, Leaf: c.ca.Cert}
	keyPEM, err := encodeKey(c.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM := encodeCert(c.server.Leaf.Raw)

	type build func(tls.Certificate, []byte) (*tls.Config, error)
	server := ServerConfig
	client := func(cert tls.Certificate, caPEM []byte) (*tls.Config, error) {
		return ClientConfig(cert, caPEM, "localhost")
	}
	tests := []struct {
		name  string
		build build
		cert  tls.Certificate
		caPEM []byte
		want  string // "" means success
	}{
		{"server ok", server, c.server, c.ca.CertPEM, ""},
		{"client ok", client, c.client, c.ca.CertPEM, ""},
		{"leaf parsed when missing", server, noLeaf, c.ca.CertPEM, ""},
		{"expired certificate still configures", client, c.expiredClient, c.ca.CertPEM, ""},
		{"server from other CA", server, c.otherServer, c.ca.CertPEM, "not issued by the cluster CA"},
		{"client from other CA", client, c.otherClient, c.ca.CertPEM, "not issued by the cluster CA"},
		{"no certificate", server, tls.Certificate{}, c.ca.CertPEM, "no certificate"},
		{"no private key", server, noKey, c.ca.CertPEM, "no private key"},
		{"wrong private key", client, wrongKey, c.ca.CertPEM, "does not match"},
		{"CA certificate as leaf", server, caAsLeaf, c.ca.CertPEM, "is a CA certificate"},
		{"bad party name", client, c.badNameClient, c.ca.CertPEM, "party name"},
		{"missing server auth", server, c.clientOnlyServer, c.ca.CertPEM, "does not allow TLS server authentication"},
		{"empty CA bundle", server, c.server, nil, "no PEM certificates"},
		{"garbage CA bundle", server, c.server, []byte("garbage"), "no PEM certificates"},
		{"key in CA bundle", client, c.client, keyPEM, `want "CERTIFICATE"`},
		{"leaf in CA bundle", client, c.client, leafPEM, "not a CA certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := tt.build(tt.cert, tt.caPEM)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if cfg.MinVersion != tls.VersionTLS13 || len(cfg.Certificates) != 1 || cfg.InsecureSkipVerify {
					t.Errorf("config: MinVersion %x, %d certificates, InsecureSkipVerify %v", cfg.MinVersion, len(cfg.Certificates), cfg.InsecureSkipVerify)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigFields(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	srv := serverConfig(t, c.server, c.ca.CertPEM)
	if srv.ClientAuth != tls.RequireAndVerifyClientCert || srv.ClientCAs == nil || srv.RootCAs != nil {
		t.Errorf("server: ClientAuth %v, ClientCAs set %v, RootCAs set %v", srv.ClientAuth, srv.ClientCAs != nil, srv.RootCAs != nil)
	}
	cli := clientConfig(t, c.client, c.ca.CertPEM, "bank.example")
	if cli.ServerName != "bank.example" || cli.RootCAs == nil {
		t.Errorf("client: ServerName %q, RootCAs set %v", cli.ServerName, cli.RootCAs != nil)
	}
	// Only the cluster CA is trusted, not the system roots.
	want := x509.NewCertPool()
	want.AddCert(c.ca.Cert)
	if !cli.RootCAs.Equal(want) || !srv.ClientCAs.Equal(want) {
		t.Error("trusted roots are not exactly the cluster CA")
	}
}

func TestPartyOf(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	tests := []struct {
		name  string
		state tls.ConnectionState
		want  string // party, or error substring after "error: "
	}{
		{"no certificate", tls.ConnectionState{}, "error: presented no certificate"},
		{"unverified", tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.client.Leaf}}, "error: not verified"},
		{"empty chain", tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{}}}, "error: presented no certificate"},
		{"verified", tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{c.client.Leaf},
			VerifiedChains:   [][]*x509.Certificate{{c.client.Leaf, c.ca.Cert}},
		}, "telco"},
		{"bad name", tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{c.badNameClient.Leaf},
			VerifiedChains:   [][]*x509.Certificate{{c.badNameClient.Leaf, c.ca.Cert}},
		}, "error: party name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := PartyOf(tt.state)
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("PartyOf = %q, %v; want an error containing %q", got, err, want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PartyOf = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	fp := Fingerprint(c.server.Leaf)
	if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 || strings.ToLower(fp) != fp {
		t.Errorf("Fingerprint = %q, want 64 lowercase hex digits", fp)
	}
	if fp == Fingerprint(c.client.Leaf) {
		t.Error("two certificates share a fingerprint")
	}
	if Fingerprint(nil) != "" {
		t.Error("Fingerprint(nil) is not empty")
	}
}
