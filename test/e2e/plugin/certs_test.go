package plugin_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// foreignPKI writes a fresh CA (ca.crt) and a client pair it signed (client.crt, client.key with
// mode 0600) to a temp dir: the PKI of "another cluster".
func foreignPKI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-etcd-healthcheck-client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, typ string, b []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.crt", "CERTIFICATE", caDER, 0o644)
	write("client.crt", "CERTIFICATE", der, 0o644)
	write("client.key", "PRIVATE KEY", keyDER, 0o600)
	return dir
}

func testCertFailures(t *testing.T, c *harness.Cluster) {
	foreign := foreignPKI(t)
	ca, crt, key := filepath.Join(c.PKIDir, "ca.crt"), filepath.Join(c.PKIDir, "healthcheck-client.crt"), filepath.Join(c.PKIDir, "healthcheck-client.key")
	const timeout = 10 * time.Second
	// fast is "did not wait for the per-member timeout".
	const fast = 5 * time.Second

	// TLS failures: every member refuses our certificates, a setup problem rather than a cluster
	// without quorum: exit 1, fast, and the error says what is wrong with the certificates.
	for _, tc := range []struct {
		name          string
		ca, crt, key  string
		wantAny       []string
		wantStatusErr bool
	}{
		{"CA of another cluster", filepath.Join(foreign, "ca.crt"), crt, key, []string{"certificate", "authority", "x509"}, true},
		{"client cert of another CA", ca, filepath.Join(foreign, "client.crt"), filepath.Join(foreign, "client.key"), []string{"certificate", "tls", "authority"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{{"status"}, {"member", "list"}} {
				args := append(cmd, "--transport", "port-forward", "--request-timeout", timeout.String(),
					"--cacert", tc.ca, "--cert", tc.crt, "--key", tc.key)
				r := plugintest.Run(t, c, args...)
				plugintest.WantCode(t, r, 1)
				if r.Dur > fast {
					t.Errorf("took %s with a certificate problem; want well under the %s timeout\n%s", r.Dur, timeout, r)
				}
				if cmd[0] == "member" {
					// One line: the first pod's reason and "the other N pods fail the same way".
					line := lineWith(r.Stderr, "etcd-cp-1")
					if line == "" || !containsAny(strings.ToLower(line), tc.wantAny) || !strings.Contains(line, "fail the same way") {
						t.Errorf("no one-line error naming the TLS problem (%q)\n%s", tc.wantAny, r)
					}
					continue
				}
				for _, name := range c.MemberNames() {
					line := lineWith(r.Stderr, "etcd-"+name)
					if line == "" || !containsAny(strings.ToLower(line), tc.wantAny) {
						t.Errorf("no stderr line for etcd-%s mentioning any of %q\n%s", name, tc.wantAny, r)
					}
				}
			}
		})
	}

	t.Run("missing key file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "no-such.key")
		r := plugintest.Run(t, c, "status", "--transport", "port-forward", "--cacert", ca, "--cert", crt, "--key", missing)
		plugintest.WantCode(t, r, 1)
		lines := r.StderrLines()
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], missing) {
			t.Errorf("want one error line naming %s\n%s", missing, r)
		}
		if r.Dur > fast || r.Stdout != "" {
			t.Errorf("want a fast failure with nothing on stdout\n%s", r)
		}
	})

	t.Run("key readable by others", func(t *testing.T) {
		loose := filepath.Join(t.TempDir(), "loose.key")
		b, err := os.ReadFile(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(loose, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(loose, 0o644); err != nil { // umask-proof
			t.Fatal(err)
		}
		r := plugintest.Run(t, c, "status", "--transport", "port-forward", "--cacert", ca, "--cert", crt, "--key", loose)
		plugintest.WantCode(t, r, 1)
		lines := r.StderrLines()
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], loose) ||
			!strings.Contains(lines[0], "readable by group or others") {
			t.Errorf("want one error line naming %s and 'readable by group or others'\n%s", loose, r)
		}
	})

	// A client certificate of the cluster's own CA that has expired, or is not valid yet: named
	// as such (etcd's handshake alert would not say why), before anything is dialled.
	for _, tc := range []struct {
		name                string
		notBefore, notAfter time.Time
		want                string
	}{
		{"expired client certificate", time.Now().Add(-48 * time.Hour), time.Now().Add(-time.Hour), "expired at"},
		{"client certificate not valid yet", time.Now().Add(time.Hour), time.Now().Add(48 * time.Hour), "is not valid before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crt, key := issueClientCert(t, c.PKIDir, tc.notBefore, tc.notAfter)
			r := plugintest.Run(t, c, "status", "--transport", "port-forward", "--request-timeout", timeout.String(), "--cacert", ca, "--cert", crt, "--key", key)
			plugintest.WantCode(t, r, 1)
			lines := r.ErrorLines()
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) || !strings.Contains(lines[0], crt) || !strings.Contains(lines[0], "kube-etcd-healthcheck-client") {
				t.Errorf("want one error line naming %s and saying %q\n%s", crt, tc.want, r)
			}
			if r.Dur > fast || r.Stdout != "" {
				t.Errorf("want a fast failure with nothing on stdout\n%s", r)
			}
		})
	}

	t.Run("incomplete flags", func(t *testing.T) {
		r := plugintest.Run(t, c, "status", "--transport", "port-forward", "--cacert", ca)
		plugintest.WantCode(t, r, 1)
		if l := r.ErrorLines(); len(l) != 1 || !strings.Contains(l[0], "--cert") || !strings.Contains(l[0], "--key") {
			t.Errorf("want one error naming the missing --cert and --key\n%s", r)
		}
	})

	t.Run("port-forward without certificates", func(t *testing.T) {
		r := plugintest.Run(t, c, "status", "--transport", "port-forward")
		plugintest.WantCode(t, r, 1)
		if l := r.ErrorLines(); len(l) != 1 || !strings.Contains(l[0], "needs etcd client certificates") || !strings.Contains(l[0], plugintest.EmptyPKIDir()) {
			t.Errorf("want one error saying port-forward needs certificates and where it looked\n%s", r)
		}
	})
}

// issueClientCert signs a client certificate valid from notBefore to notAfter with the cluster's
// etcd CA (pkiDir/ca.crt and ca.key) and writes it to a temp dir; it returns the cert and key paths.
func issueClientCert(t *testing.T, pkiDir string, notBefore, notAfter time.Time) (crtPath, keyPath string) {
	t.Helper()
	readPEM := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(pkiDir, name))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM", name)
		}
		return blk.Bytes
	}
	ca, err := x509.ParseCertificate(readPEM("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParsePKCS8PrivateKey(readPEM("ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kube-etcd-healthcheck-client"},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crtPath, keyPath = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crtPath, keyPath
}

// lineWith returns the first line of s containing sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
