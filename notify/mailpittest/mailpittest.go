// Package mailpittest runs a real SMTP server for tests: mailpit
// (github.com/axllent/mailpit, pinned in tools/mailpit), built once into the
// user's cache from the module proxy, listening on loopback with STARTTLS
// (a certificate made for the run) and authentication, and read back
// through its HTTP API.
package mailpittest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Version is the mailpit version tools/mailpit pins.
const Version = "v1.33.1"

// Server is a running mailpit.
type Server struct {
	SMTPAddr string // host:port of SMTP (STARTTLS required, any user and password)
	API      string // base URL of its HTTP API
	CAFile   string // PEM of the certificate SMTP presents (self-signed)
	CA       *x509.CertPool
	bin, dir string
	cmd      *exec.Cmd
	t        testing.TB
}

// Start builds (once) and starts mailpit; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := build(t)
	dir := t.TempDir()
	s := &Server{bin: bin, dir: dir, t: t, SMTPAddr: freeAddr(t)}
	s.CAFile = writeCert(t, dir)
	s.CA = x509.NewCertPool()
	pemBytes, _ := os.ReadFile(s.CAFile)
	s.CA.AppendCertsFromPEM(pemBytes)
	s.API = "http://" + freeAddr(t)
	s.Up()
	t.Cleanup(s.Down)
	return s
}

// Up starts mailpit, on the same addresses and database as before, and
// waits until its API answers.
func (s *Server) Up() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin,
		"--smtp", s.SMTPAddr, "--listen", s.API[len("http://"):],
		"--database", filepath.Join(s.dir, "mailpit.db"),
		"--smtp-tls-cert", s.CAFile, "--smtp-tls-key", filepath.Join(s.dir, "key.pem"),
		"--smtp-require-starttls", "--smtp-auth-accept-any", "--disable-version-check", "--quiet")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := http.Get(s.API + "/api/v1/messages")
		if err == nil {
			r.Body.Close()
			if c, err := net.Dial("tcp", s.SMTPAddr); err == nil {
				c.Close()
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("mailpit did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Down stops mailpit (SMTP refuses connections until Up).
func (s *Server) Down() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Message is a message in mailpit's inbox, with its text.
type Message struct {
	ID      string
	From    Address
	To      []Address
	Subject string
	Text    string
}

// Address is a mailbox.
type Address struct{ Name, Address string }

// Messages returns every message received, newest first, with its text.
func (s *Server) Messages() []Message {
	s.t.Helper()
	var list struct{ Messages []Message }
	s.get("/api/v1/messages", &list)
	for i := range list.Messages {
		var m struct{ Text string }
		s.get("/api/v1/message/"+list.Messages[i].ID, &m)
		list.Messages[i].Text = m.Text
	}
	return list.Messages
}

func (s *Server) get(path string, v any) {
	s.t.Helper()
	r, err := http.Get(s.API + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		s.t.Fatalf("mailpit %s: %s", path, r.Status)
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		s.t.Fatal(err)
	}
}

// build compiles mailpit into the user's cache once per version.
func build(t testing.TB) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "ucp-test", "mailpit-"+Version)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	_, here, _, _ := runtime.Caller(0)
	mod := filepath.Join(filepath.Dir(here), "..", "..", "tools", "mailpit")
	tmp := fmt.Sprintf("%s.%d", bin, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, "github.com/axllent/mailpit")
	cmd.Dir = mod
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building mailpit in %s: %v\n%s", mod, err, out)
	}
	// Renamed into place, so that a concurrent build never runs half a file.
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeCert writes a self-signed certificate for 127.0.0.1 (cert.pem) and
// its key (key.pem) into dir and returns the certificate's path.
func writeCert(t testing.TB, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailpit test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert
}
