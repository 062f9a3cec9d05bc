// gotls dials a TLS server the way the GitLab Runner manager does and prints
// Go's verdict as JSON. Standard library only; a test oracle for runner-wizard.
//
// The runner (network/client.go) trusts x509.SystemCertPool() plus the PEM CA
// file (tls-ca-file, or <certdir>/<host>.crt); when the file holds no
// certificate Go can parse, it keeps the system pool alone. TLS >= 1.2, the
// URL's host as server name.
//
//	gotls -connect 127.0.0.1:8443 -servername gitlab.test [-cafile ca.crt]
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"time"
)

type verdict struct {
	Trusted    bool   `json:"trusted"`
	Error      string `json:"error"`
	X509Error  string `json:"x509_error"`
	CAFileUsed bool   `json:"ca_file_used"`
	Handshaked bool   `json:"handshake"`
}

func main() {
	connect := flag.String("connect", "", "host:port to dial (loopback)")
	serverName := flag.String("servername", "", "server name (the URL's host)")
	caFile := flag.String("cafile", "", "the runner's CA file (PEM)")
	flag.Parse()

	out := verdict{}
	var roots *x509.CertPool
	if *caFile != "" {
		if data, err := os.ReadFile(*caFile); err == nil {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if pool.AppendCertsFromPEM(data) {
				roots = pool
				out.CAFileUsed = true
			}
		}
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: *serverName, MinVersion: tls.VersionTLS12}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", *connect, cfg)
	if err == nil {
		out.Trusted = true
		out.Handshaked = true
		conn.Close()
	} else {
		out.Error = err.Error()
		var cve *tls.CertificateVerificationError
		if errors.As(err, &cve) {
			out.X509Error = cve.Err.Error()
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out)
}
