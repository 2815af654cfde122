package harness_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
)

func tlsOf(t *testing.T, c *harness.Cluster) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.PKIDir, "healthcheck-client.crt"), filepath.Join(c.PKIDir, "healthcheck-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(c.PKIDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}
}
