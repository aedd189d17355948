#!/bin/sh
# Makes the certificates the TLS tests use, into DIR, with the openssl
# command: a CA (ca.pem), a server certificate for localhost and
# 127.0.0.1 (server.pem, key server.key), a second one for reloads
# (server2.pem, same key), an expired one (expired.pem) and one for
# another host (wronghost.pem), a key that matches none of them
# (other.key), and a file that is no certificate (bad.pem).  Keys are
# ECDSA P-256.  Usage: tlscerts.sh DIR
set -eu
dir=${1:?usage: tlscerts.sh DIR}
mkdir -p "$dir"
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 30 \
	-subj /CN=evsock-test-ca 2>/dev/null
openssl req -new $ec -keyout server.key -out server.csr \
	-subj /CN=localhost 2>/dev/null
openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 \
	-out other.key 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >local.ext
printf 'subjectAltName=DNS:other.example\n' >other.ext
sign() { # sign OUT DAYS EXT SERIAL
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
		-set_serial "$4" -days "$2" -extfile "$3" -out "$1" 2>/dev/null
}
sign server.pem 30 local.ext 1001
sign server2.pem 30 local.ext 1002
sign expired.pem -1 local.ext 1003
sign wronghost.pem 30 other.ext 1004
printf 'not a certificate\n' >bad.pem
chmod 600 ./*.key
rm -f server.csr local.ext other.ext
