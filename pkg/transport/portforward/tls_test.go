package portforward

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd-ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert: cert, key: key}
}

func (ca testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A server like etcd's client port: it requires a client certificate of its CA. The handshake
// results arrive on the returned channel, one per connection.
func mTLSServer(t *testing.T, ca testCA) (int, <-chan error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, "cp-1", x509.ExtKeyUsageServerAuth)},
		ClientCAs:    pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	results := make(chan error, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			err = c.(*tls.Conn).HandshakeContext(context.Background())
			_ = c.Close()
			results <- err
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, results
}

// The certificate peek presents the session's client certificate, so that etcd accepts the
// connection instead of resetting it (a reset ends the whole shared port-forward).
func TestPeekServerCertPresentsTheClientCertificate(t *testing.T) {
	ca := newTestCA(t)
	port, results := mTLSServer(t, ca)
	client := &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "kube-etcd-healthcheck-client", x509.ExtKeyUsageClientAuth)}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	leaf, err := peekServerCert(ctx, port, client)
	if err != nil || leaf == nil || leaf.Subject.CommonName != "cp-1" {
		t.Fatalf("peek = %v, %v; want the server certificate of cp-1", leaf, err)
	}
	if err := <-results; err != nil {
		t.Errorf("with the client certificate the server refused the handshake: %v", err)
	}

	// Without one (metrics-only, on a forward of its own) the certificate is still read, and
	// the server refuses the connection.
	leaf, err = peekServerCert(ctx, port, nil)
	if err != nil || leaf == nil || leaf.Subject.CommonName != "cp-1" {
		t.Fatalf("peek without a client certificate = %v, %v; want the server certificate", leaf, err)
	}
	if err := <-results; err == nil {
		t.Error("the server accepted a connection without a client certificate; the test server is wrong")
	}
}
