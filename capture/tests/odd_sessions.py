"""The crafted conversations of the odd sessions issue 16 is about, shared by the tests that
import them (listener_facts.py: the header facts and events) and replay them
(seeds_replay_mx_serve.sh: through mx-serve, by reply unit). Each is (server port, writes):
("s" | "c", bytes) in the order they crossed the wire; pcapng_craft.conv() makes a TCP
conversation of them."""
from pcapng_craft import client_hello, server_hello

CH = client_hello()
SH = server_hello()
EHLO_NO_TLS = b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
EHLO_TLS = b"250-mx.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"

CONVERSATIONS = {
    # seed Q218430: an SSL client on the STARTTLS port; the server greeted in plaintext and
    # answered the ClientHello as a bad command (postfix: 500)
    "smtp-hello-on-plain-port": (25, [("s", b"220 mx.test ESMTP\r\n"), ("c", CH),
                                      ("s", b"500 5.5.2 Error: bad syntax\r\n")]),
    "imap-hello-on-plain-port": (143, [("s", b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"),
                                       ("c", CH), ("s", b"* BAD Error in IMAP command\r\n")]),
    # refused STARTTLS (the reply text mentions STARTTLS: not an offer), TLS forced anyway
    "smtp-refused-then-hello": (25, [("s", b"220 mx.test ESMTP\r\n"), ("c", b"EHLO c\r\n"), ("s", EHLO_NO_TLS),
                                     ("c", b"STARTTLS\r\n"), ("s", b"502 5.5.1 STARTTLS not supported\r\n"),
                                     ("c", CH), ("s", b"500 5.5.2 Error: bad syntax\r\n"),
                                     ("c", b"QUIT\r\n"), ("s", b"221 2.0.0 Bye\r\n")]),
    # POP3: CAPA without STLS, STLS -> -ERR, then the client forces TLS anyway
    "pop3-refused-then-hello": (110, [("s", b"+OK ready\r\n"), ("c", b"CAPA\r\n"),
                                      ("s", b"+OK\r\nUSER\r\nUIDL\r\n.\r\n"), ("c", b"STLS\r\n"),
                                      ("s", b"-ERR STLS not supported\r\n"), ("c", CH),
                                      ("s", b"-ERR unknown command\r\n")]),
    # postfix whose TLS set-up failed: it lists STARTTLS (from its configuration) and answers
    # it 454 (RFC 3207 4: TLS not available due to temporary reason)
    "smtp-454": (25, [("s", b"220 mx.test ESMTP\r\n"), ("c", b"EHLO c\r\n"), ("s", EHLO_TLS),
                      ("c", b"STARTTLS\r\n"), ("s", b"454 4.7.0 TLS not available due to local problem\r\n"),
                      ("c", b"QUIT\r\n"), ("s", b"221 Bye\r\n")]),
    # a server that does not list what it cannot start, and answers 454 all the same
    "smtp-454-unlisted": (25, [("s", b"220 mx.test ESMTP\r\n"), ("c", b"EHLO c\r\n"), ("s", EHLO_NO_TLS),
                               ("c", b"STARTTLS\r\n"), ("s", b"454 4.7.0 TLS not available\r\n"),
                               ("c", b"QUIT\r\n"), ("s", b"221 Bye\r\n")]),
}
