// Package facts_test checks, with the real etcd binaries of the harness, the facts about etcd
// that the plugin's design rests on, so that a change in etcd shows up as a failing test rather
// than as a surprise in a user's cluster.
package facts_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
)

// etcd's grpc-proxy refuses a backend client certificate that has a Common Name
// (server/etcdmain/grpc_proxy.go builds its backend TLS with EmptyCN; etcd-io/etcd#11970), and
// every client certificate kubeadm writes has one. This is why the plugin cannot run a
// grpc-proxy helper pod with the node's own certificates (issue 12 is blocked on it). The
// second half shows what the proxy would need: a CN-less client certificate signed by the etcd
// CA works, and with --trusted-ca-file the proxy serves only clients with a certificate of its
// own CA.
func TestGRPCProxyNeedsCNlessBackendCert(t *testing.T) {
	c := harness.Start(t, harness.Options{Members: 1})
	name := c.MemberNames()[0]
	etcd := filepath.Join(c.EtcdBin, "etcd")
	pki := c.PKIDir

	t.Run("kubeadm healthcheck-client is refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, etcd, "grpc-proxy", "start",
			"--endpoints="+c.ClientURL(name), "--listen-addr=127.0.0.1:"+freePort(t), "--advertise-client-url=",
			"--cacert="+filepath.Join(pki, "ca.crt"),
			"--cert="+filepath.Join(pki, "healthcheck-client.crt"), "--key="+filepath.Join(pki, "healthcheck-client.key"))
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("grpc-proxy kept running with a CN'd backend certificate: etcd changed, issue 12 may be unblocked\n%s", out)
		}
		if err == nil || !strings.Contains(string(out), "cert has non empty Common Name (kube-etcd-healthcheck-client)") {
			t.Fatalf("grpc-proxy: err=%v, want the non-empty Common Name refusal; output:\n%s", err, out)
		}
	})

	t.Run("a CN-less client certificate works, behind mutual TLS", func(t *testing.T) {
		dir := t.TempDir()
		etcdCA := loadCA(t, filepath.Join(pki, "ca.crt"), filepath.Join(pki, "ca.key"))
		writePair(t, dir, "backend", issue(t, etcdCA, "", false))
		proxyCA := newCA(t)
		writePEM(t, filepath.Join(dir, "proxy-ca.crt"), "CERTIFICATE", proxyCA.cert.Raw)
		// The server pair serves the listener and, as etcd's proxy dials itself for its health
		// check, is also a client certificate.
		writePair(t, dir, "proxy-server", issue(t, proxyCA, "127.0.0.1", true))
		client := issue(t, proxyCA, "kubectl-etcd", false)

		port := freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := exec.CommandContext(ctx, etcd, "grpc-proxy", "start",
			"--endpoints="+c.ClientURL(name), "--listen-addr=127.0.0.1:"+port, "--advertise-client-url=",
			"--data-dir="+filepath.Join(dir, "proxy-data"),
			"--cacert="+filepath.Join(pki, "ca.crt"), "--cert="+filepath.Join(dir, "backend.crt"), "--key="+filepath.Join(dir, "backend.key"),
			"--cert-file="+filepath.Join(dir, "proxy-server.crt"), "--key-file="+filepath.Join(dir, "proxy-server.key"),
			"--trusted-ca-file="+filepath.Join(dir, "proxy-ca.crt"))
		logf, err := os.Create(filepath.Join(dir, "proxy.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()

		roots := x509.NewCertPool()
		roots.AddCert(proxyCA.cert)
		status := func(certs []tls.Certificate) error {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://127.0.0.1:" + port}, DialTimeout: 3 * time.Second,
				TLS: &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12}, Logger: zap.NewNop()})
			if err != nil {
				return err
			}
			defer cli.Close()
			sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
			defer scancel()
			_, err = cli.Status(sctx, "https://127.0.0.1:"+port)
			return err
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			err = status([]tls.Certificate{client})
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "proxy.log"))
				t.Fatalf("status through the proxy with a CN-less backend certificate: %v\nproxy log:\n%s", err, log)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err := status(nil); err == nil {
			t.Fatal("the proxy answered a client without a certificate")
		}
	})
}

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) authority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test-proxy-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return authority{cert: cert, key: key}
}

func loadCA(t *testing.T, certFile, keyFile string) authority {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("the harness CA key is a %T, want ECDSA", pair.PrivateKey)
	}
	return authority{cert: cert, key: key}
}

// issue signs a certificate with Common Name cn ("" for none); server adds 127.0.0.1 and the
// server usage.
func issue(t *testing.T, ca authority, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePair(t *testing.T, dir, base string, c tls.Certificate) {
	t.Helper()
	writePEM(t, filepath.Join(dir, base+".crt"), "CERTIFICATE", c.Certificate[0])
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, base+".key"), "PRIVATE KEY", der)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
