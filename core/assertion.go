package core

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// assertionLifetime is how long a client assertion is valid. Each token
// request signs a new one, so it only needs to outlast the request;
// Keycloak and Entra ID accept up to several minutes, RFC 7523 asks for
// short.
const assertionLifetime = 60 * time.Second

// maxCredentialFile bounds a key, certificate or keystore file.
const maxCredentialFile = 1 << 20

// assertionKey signs private_key_jwt client assertions (RFC 7523 §2.2).
type assertionKey struct {
	signer crypto.Signer
	alg    string // JWS algorithm: RS256, PS256, ES256, ES384, ES512
	header string // the JWS header, base64url: alg, typ and the thumbprints
}

// String never shows the key.
func (k *assertionKey) String() string { return "assertionKey{alg:" + k.alg + "}" }

// GoString makes %#v safe too.
func (k *assertionKey) GoString() string { return k.String() }

// credentialError is a KindConfig error about one setting; it never
// carries the file's contents nor a password.
func credentialError(field, msg string) error {
	return &Error{Kind: KindConfig, Op: "config", Msg: "invalid configuration: " + field + " " + msg, Fields: []string{field}}
}

// readCredentialFile reads a key, certificate or keystore named by field,
// at most maxCredentialFile bytes of a regular file.
func readCredentialFile(field, path string) ([]byte, error) {
	// Stat first: opening a FIFO would block until someone writes to it.
	// (A symlink is followed: Kubernetes mounts secrets as symlinks.)
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, credentialError(field, "must name a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, credentialError(field, "cannot be read: "+describeOSError(err))
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, credentialError(field, "must name a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialFile+1))
	if err != nil {
		return nil, credentialError(field, "cannot be read: "+describeOSError(err))
	}
	if len(b) > maxCredentialFile {
		return nil, credentialError(field, "is larger than 1 MiB")
	}
	return b, nil
}

// describeOSError names the failure without the path, which the error
// already names by its setting.
func describeOSError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// loadAssertionKey reads the private_key_jwt credential of c: a PEM key
// with an optional PEM certificate (or one in the key file), or a PKCS#12
// keystore.
func loadAssertionKey(c Config) (*assertionKey, error) {
	var key any
	var cert *x509.Certificate
	pss := false
	if c.ClientAssertionKeystorePath != "" {
		data, err := readCredentialFile("client_assertion_keystore_path", c.ClientAssertionKeystorePath)
		if err != nil {
			return nil, err
		}
		if key, cert, err = decodeKeystore(data, c.ClientAssertionKeystorePassword, c.ClientAssertionKeystoreKeyPassword,
			c.ClientAssertionKeystoreKeyAlias); err != nil {
			return nil, err
		}
	} else {
		data, err := readCredentialFile("client_assertion_key_path", c.ClientAssertionKeyPath)
		if err != nil {
			return nil, err
		}
		var certDER []byte
		if key, pss, certDER, err = decodePEMKey(data); err != nil {
			return nil, credentialError("client_assertion_key_path", err.Error())
		}
		if c.ClientAssertionCertPath != "" {
			b, err := readCredentialFile("client_assertion_cert_path", c.ClientAssertionCertPath)
			if err != nil {
				return nil, err
			}
			if certDER = firstPEM(b, "CERTIFICATE"); certDER == nil {
				return nil, credentialError("client_assertion_cert_path", "holds no PEM certificate")
			}
		}
		if certDER != nil {
			if cert, err = x509.ParseCertificate(certDER); err != nil {
				return nil, credentialError("client_assertion_cert_path", "holds a certificate that cannot be parsed")
			}
		}
	}
	return newAssertionKey(key, pss, cert)
}

// decodeKeystore opens a PKCS#12 file as OpenSSL 3 and Java's keytool
// write them (PBES2 with AES, or the legacy 3DES/RC2). The key may be
// protected by its own password (keytool's -keypass); it is tried when
// the store password does not open the key. With an alias, the key entry
// of that friendly name is taken (Java aliases are case-insensitive);
// without one, the keystore must hold one key.
func decodeKeystore(data []byte, password, keyPassword, alias string) (any, *x509.Certificate, error) {
	decode := func(pw string) (any, *x509.Certificate, error) {
		if alias != "" {
			return decodeAlias(data, pw, alias)
		}
		key, cert, _, err := pkcs12.DecodeChain(data, pw)
		return key, cert, err
	}
	key, cert, err := decode(password)
	if err != nil && keyPassword != "" && keyPassword != password {
		key, cert, err = decode(keyPassword)
	}
	var ae *aliasError
	if errors.As(err, &ae) {
		return nil, nil, credentialError("client_assertion_keystore_key_alias", ae.msg)
	}
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return nil, nil, credentialError("client_assertion_keystore_password", "does not open the keystore (wrong password, or a damaged file)")
	case err != nil:
		// The library's texts describe the structure, never the contents.
		return nil, nil, credentialError("client_assertion_keystore_path", "is not a PKCS#12 keystore holding one private key and its certificate: "+err.Error())
	}
	return key, cert, nil
}

// aliasError says the alias names no usable entry.
type aliasError struct{ msg string }

func (e *aliasError) Error() string { return e.msg }

// decodeAlias picks the private key whose friendlyName is alias, and the
// certificate with its localKeyId (or name).
func decodeAlias(data []byte, password, alias string) (any, *x509.Certificate, error) {
	blocks, err := pkcs12.ToPEM(data, password)
	if err != nil {
		return nil, nil, err
	}
	var key any
	var id string
	keys := 0
	for _, b := range blocks {
		if b.Type == "PRIVATE KEY" {
			keys++
		}
	}
	for _, b := range blocks {
		// One key without a name is what Java lists as alias "1": any
		// alias takes it.
		named := strings.EqualFold(b.Headers["friendlyName"], alias) || keys == 1 && b.Headers["friendlyName"] == ""
		if b.Type != "PRIVATE KEY" || !named {
			continue
		}
		if key != nil {
			return nil, nil, &aliasError{"names more than one key entry"}
		}
		// ToPEM gives the key in its raw form (PKCS#1 or SEC 1).
		if key, err = x509.ParsePKCS1PrivateKey(b.Bytes); err != nil {
			if key, err = x509.ParseECPrivateKey(b.Bytes); err != nil {
				return nil, nil, &aliasError{"names a key entry zbauth cannot read"}
			}
		}
		id = b.Headers["localKeyId"]
	}
	if key == nil {
		return nil, nil, &aliasError{"names no key entry of the keystore"}
	}
	for _, b := range blocks {
		if b.Type == "CERTIFICATE" && (id != "" && b.Headers["localKeyId"] == id || strings.EqualFold(b.Headers["friendlyName"], alias)) {
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, &aliasError{"names an entry whose certificate cannot be parsed"}
			}
			return key, cert, nil
		}
	}
	return key, nil, nil
}

// oidRSAPSS is id-RSASSA-PSS: an RSA key restricted to PSS signatures,
// which x509.ParsePKCS8PrivateKey does not read.
var oidRSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}

// decodePEMKey reads the first private key of a PEM file, and the first
// certificate if the file holds one too.
func decodePEMKey(data []byte) (key any, pss bool, certDER []byte, err error) {
	certDER = firstPEM(data, "CERTIFICATE")
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, false, nil, errors.New("holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		switch b.Type {
		case "PRIVATE KEY":
			var p8 struct {
				Version int
				Algo    struct{ Algorithm asn1.ObjectIdentifier }
				Key     []byte
			}
			if _, perr := asn1.Unmarshal(b.Bytes, &p8); perr == nil && p8.Algo.Algorithm.Equal(oidRSAPSS) {
				key, err = x509.ParsePKCS1PrivateKey(p8.Key)
				return key, true, certDER, keyError(err)
			}
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, false, nil, errors.New("holds an encrypted PEM key, which is not supported: use a PKCS#12 keystore with a password, or an unencrypted key readable only by its user")
		default:
			continue
		}
		return key, false, certDER, keyError(err)
	}
}

func keyError(err error) error {
	if err != nil {
		return errors.New("holds a private key that cannot be parsed")
	}
	return nil
}

// firstPEM returns the bytes of the first PEM block of type typ, or nil.
func firstPEM(data []byte, typ string) []byte {
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil
		}
		if b.Type == typ {
			return b.Bytes
		}
	}
}

// newAssertionKey picks the JWS algorithm for key and builds the header,
// with the certificate's thumbprints (x5t, x5t#S256) when there is one:
// Entra ID finds the client's certificate by them.
func newAssertionKey(key any, pss bool, cert *x509.Certificate) (*assertionKey, error) {
	const field = "client_assertion_key_path"
	k := &assertionKey{}
	switch key := key.(type) {
	case *rsa.PrivateKey:
		k.signer, k.alg = key, "RS256"
		if pss {
			k.alg = "PS256"
		}
	case *ecdsa.PrivateKey:
		k.signer = key
		switch key.Curve {
		case elliptic.P256():
			k.alg = "ES256"
		case elliptic.P384():
			k.alg = "ES384"
		case elliptic.P521():
			k.alg = "ES512"
		default:
			return nil, credentialError(field, "holds an EC key on a curve JWS does not name (use P-256, P-384 or P-521)")
		}
	default:
		return nil, credentialError(field, "holds a key of a kind zbauth cannot sign client assertions with (use RSA or EC)")
	}
	h := `{"alg":"` + k.alg + `","typ":"JWT"`
	if cert != nil {
		pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(k.signer.Public()) {
			return nil, credentialError("client_assertion_cert_path", "holds a certificate for another key than the one configured")
		}
		s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
		h += `,"x5t":"` + b64url.EncodeToString(s1[:]) + `","x5t#S256":"` + b64url.EncodeToString(s256[:]) + `"`
	}
	k.header = b64url.EncodeToString([]byte(h + "}"))
	return k, nil
}

var b64url = base64.RawURLEncoding

// sign returns a fresh client assertion for clientID at the token endpoint
// aud: iss = sub = clientID, a random jti, valid from now for
// assertionLifetime.
func (k *assertionKey) sign(clientID, aud string, now time.Time) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	iat := strconv.FormatInt(now.Unix(), 10)
	claims := `{"iss":` + strconv.Quote(clientID) + `,"sub":` + strconv.Quote(clientID) +
		`,"aud":` + strconv.Quote(aud) + `,"iat":` + iat + `,"nbf":` + iat +
		`,"exp":` + strconv.FormatInt(now.Add(assertionLifetime).Unix(), 10) +
		`,"jti":"` + b64url.EncodeToString(jti) + `"}`
	msg := k.header + "." + b64url.EncodeToString([]byte(claims))
	var sig []byte
	var err error
	switch k.alg {
	case "RS256":
		d := sha256.Sum256([]byte(msg))
		sig, err = k.signer.Sign(rand.Reader, d[:], crypto.SHA256)
	case "PS256":
		d := sha256.Sum256([]byte(msg))
		sig, err = k.signer.Sign(rand.Reader, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	default:
		sig, err = signECDSA(k.signer.(*ecdsa.PrivateKey), k.alg, []byte(msg))
	}
	if err != nil {
		return "", err
	}
	return msg + "." + b64url.EncodeToString(sig), nil
}

// signECDSA signs as JWS wants it: r and s as fixed-size big-endian
// integers, concatenated (RFC 7518 §3.4), not ASN.1.
func signECDSA(key *ecdsa.PrivateKey, alg string, msg []byte) ([]byte, error) {
	var digest []byte
	switch alg {
	case "ES256":
		d := sha256.Sum256(msg)
		digest = d[:]
	case "ES384":
		d := sha512.Sum384(msg)
		digest = d[:]
	default:
		d := sha512.Sum512(msg)
		digest = d[:]
	}
	r, s, err := ecdsa.Sign(rand.Reader, key, digest)
	if err != nil {
		return nil, err
	}
	size := (key.Curve.Params().BitSize + 7) / 8
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}
