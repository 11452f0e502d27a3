#!/usr/bin/python3
"""RFC 6455 conformance of chatd's WebSocket server side, case families after Autobahn|Testsuite:
1 framing, 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close, 9 limits.

Each case opens a raw socket (this file's own frame writer, which can break every rule), sends its frames
and asserts what RFC 6455 requires of a server: the pong with the ping's payload (5.5.2, 5.5.3), the close
code (1002 protocol error, 1007 invalid UTF-8, 1009 too big, the peer's code echoed: 7.4.1, 5.5.1, 8.1),
that the server then closes the TCP connection (7.1.1), and that a healthy subscriber in the same room,
a websockets client, still receives what is published afterwards.

Client text frames are publishes (docs/api.md), so a message the server accepts is seen by the bystander.

Usage: /usr/bin/python3 test/python/test_conformance.py /path/to/chatd
"""

import asyncio
import base64
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MAX_MESSAGE = 4096  # limits.max_message_size of these servers, small so case 9 is cheap
CONFIG = harness.FAST_PUBLISH + f"limits: {{ max_message_size: {MAX_MESSAGE} }}\n"
ROOM = "conformance"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """One frame; `length` overrides the declared payload length, `rsv` is the 3 reserved bits (0-7)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head = bytes([first, mask_bit | n])
    elif n < 65536:
        head = bytes([first, mask_bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, mask_bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawClient:
    """A socket past the 101 of /subscribe, reading server frames (never masked, RFC 6455 5.1)."""

    def __init__(self, port, name):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /subscribe?room={ROOM}&name={name} HTTP/1.1\r\nHost: x\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.data = b""
        while b"\r\n\r\n" not in self.data:
            chunk = self.sock.recv(4096)
            assert chunk, f"closed during the handshake: {self.data!r}"
            self.data += chunk
        head, _, self.data = self.data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, *frames):
        self.sock.sendall(b"".join(frames))

    def next_frame(self):
        """(opcode, payload) of the next server frame; None once the server closed the TCP connection."""
        while True:
            if len(self.data) >= 2:
                assert self.data[1] & 0x80 == 0, "a server frame is masked (RFC 6455 5.1)"
                length = self.data[1] & 0x7F
                offset = 2 + (2 if length == 126 else 8 if length == 127 else 0)
                if len(self.data) >= offset:
                    if length >= 126:
                        length = int.from_bytes(self.data[2:offset], "big")
                    if len(self.data) >= offset + length:
                        opcode = self.data[0] & 0x0F
                        payload = self.data[offset:offset + length]
                        self.data = self.data[offset + length:]
                        return opcode, payload
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.data += chunk

    def expect_pong(self, payload):
        while True:
            got = self.next_frame()
            assert got is not None, "connection closed instead of a pong"
            if got[0] == OP_PONG:
                assert got[1] == payload, f"pong payload {got[1]!r} != ping payload {payload!r}"
                return
            assert got[0] == OP_TEXT, f"unexpected frame {got!r}"  # events published to the room

    def expect_close(self, code):
        """The server's close frame has `code`, then the server closes the TCP connection."""
        while True:
            got = self.next_frame()
            assert got is not None, f"connection closed without a close frame (expected {code})"
            if got[0] == OP_CLOSE:
                got_code = struct.unpack("!H", got[1][:2])[0] if len(got[1]) >= 2 else 1005
                assert got_code == code, f"close code {got_code} != {code} (reason {got[1][2:]!r})"
                break
            assert got[0] in (OP_TEXT, OP_PONG), f"unexpected frame {got!r}"
        assert self.next_frame() is None, "the server sent more after its close frame"
        self.sock.close()

    def expect_pongs(self, payloads):
        """Pings sent back to back: RFC 6455 5.5.3 lets the server answer only the most recent one it has
        not answered yet, so the pongs are some of the pings' payloads, in order, ending with the last."""
        seen = -1
        while seen != len(payloads) - 1:
            got = self.next_frame()
            assert got is not None, f"connection closed after pongs up to {seen}"
            if got[0] != OP_PONG:
                assert got[0] == OP_TEXT, f"unexpected frame {got!r}"
                continue
            later = [i for i in range(seen + 1, len(payloads)) if payloads[i] == got[1]]
            assert later, f"pong {got[1]!r} answers no ping after #{seen} of {payloads!r}"
            seen = later[0]

    def close(self):
        self.sock.close()


def case(send, *, close=None, pongs=(), published=()):
    """Runs one case on its own server: a bystander joins, a raw client sends `send` (a list of frames);
    asserts the pongs, the messages the bystander sees published, the close code; then that the bystander
    still receives a message published over HTTP."""
    with harness.ChatServer(CONFIG) as server:
        async def scenario():
            async with harness.connect(server, f"?room={ROOM}&name=bystander") as bystander:
                raw = RawClient(server.port, "raw")
                raw.send(*send)
                if pongs:
                    raw.expect_pongs(list(pongs))
                if close is not None:
                    await asyncio.get_running_loop().run_in_executor(None, raw.expect_close, close)
                for text in published:
                    event = await harness.recv_json(bystander)
                    assert event["name"] == "raw" and event["text"] == text, event
                if close is None:
                    # Still open: a ping is still answered.
                    raw.send(frame(OP_PING, b"alive"))
                    raw.expect_pong(b"alive")
                    raw.close()
                response = await harness.apost(server, f"?room={ROOM}&name=http", "after")
                assert response.status == 202, response
                while True:
                    event = await harness.recv_json(bystander)
                    if event.get("name") == "http":
                        assert event["text"] == "after", event
                        break
        harness.run_async(scenario)


# ---- 1 framing ------------------------------------------------------------------------------------------


def test_1_1_text_frames_of_each_length_encoding_are_published():
    case([frame(OP_TEXT, b"short"), frame(OP_TEXT, b"m" * 125), frame(OP_TEXT, b"x" * 126),
          frame(OP_TEXT, b"y" * 3000)],
         published=["short", "m" * 125, "x" * 126, "y" * 3000])


def test_1_2_a_frame_split_into_single_bytes_is_published():
    with harness.ChatServer(CONFIG) as server:
        async def scenario():
            async with harness.connect(server, f"?room={ROOM}&name=bystander") as bystander:
                raw = RawClient(server.port, "raw")
                for byte in frame(OP_TEXT, "drip é".encode()):
                    raw.send(bytes([byte]))
                event = await harness.recv_json(bystander)
                assert event["text"] == "drip é", event
                raw.close()
        harness.run_async(scenario)


def test_1_3_an_unmasked_client_frame_gets_1002():
    case([frame(OP_TEXT, b"bare", mask=False)], close=1002)


def test_1_4_a_64_bit_length_with_its_high_bit_set_gets_1002():
    head = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 1 << 63) + b"\x01\x02\x03\x04"
    case([head], close=1002)


# ---- 2 ping/pong ----------------------------------------------------------------------------------------


def test_2_1_pings_are_answered_with_their_payload():
    case([frame(OP_PING), frame(OP_PING, b"hello"), frame(OP_PING, bytes(range(125)))],
         pongs=[b"", b"hello", bytes(range(125))])


def test_2_2_a_ping_of_126_bytes_gets_1002():
    case([frame(OP_PING, b"p" * 126)], close=1002)


def test_2_3_an_unsolicited_pong_is_ignored():
    case([frame(OP_PONG, b"unasked"), frame(OP_TEXT, b"then text")], published=["then text"])


def test_2_4_a_fragmented_ping_gets_1002():
    case([frame(OP_PING, b"half", fin=False), frame(OP_CONT, b"rest")], close=1002)


def test_2_5_ten_pings_in_a_row_are_answered_in_order_up_to_the_last():
    payloads = [f"ping {i}".encode() for i in range(10)]
    case([frame(OP_PING, p) for p in payloads], pongs=payloads)


# ---- 3 reserved bits ------------------------------------------------------------------------------------


def test_3_reserved_bits_without_an_extension_get_1002():
    for rsv in range(1, 8):
        case([frame(OP_TEXT, b"rsv", rsv=rsv)], close=1002)
    case([frame(OP_PING, b"rsv", rsv=4)], close=1002)


# ---- 4 opcodes ------------------------------------------------------------------------------------------


def test_4_reserved_opcodes_get_1002():
    for opcode in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
        case([frame(opcode, b"op")], close=1002)


def test_4_a_reserved_opcode_after_a_good_message_gets_1002():
    # Whether "before" is published depends on whether it arrived in the same read as the bad frame (chatd
    # publishes nothing once it is closing); RFC 6455 7.1.7 lets a failing endpoint discard what is left.
    case([frame(OP_TEXT, b"before"), frame(5, b"")], close=1002)


# ---- 5 fragmentation ------------------------------------------------------------------------------------


def test_5_1_fragments_are_reassembled():
    case([frame(OP_TEXT, b"frag", fin=False), frame(OP_CONT, b"men", fin=False), frame(OP_CONT, b"ted")],
         published=["fragmented"])


def test_5_2_control_frames_between_fragments_are_answered():
    case([frame(OP_TEXT, b"a", fin=False), frame(OP_PING, b"mid"), frame(OP_PONG, b"x"), frame(OP_CONT, b"b")],
         pongs=[b"mid"], published=["ab"])


def test_5_3_a_continuation_with_no_message_open_gets_1002():
    case([frame(OP_CONT, b"orphan")], close=1002)
    case([frame(OP_CONT, b"orphan", fin=False)], close=1002)


def test_5_4_a_new_data_frame_inside_a_fragmented_message_gets_1002():
    case([frame(OP_TEXT, b"one", fin=False), frame(OP_TEXT, b"two")], close=1002)


def test_5_5_empty_fragments_are_reassembled():
    case([frame(OP_TEXT, b"", fin=False), frame(OP_CONT, b"x", fin=False), frame(OP_CONT, b"")],
         published=["x"])


# ---- 6 UTF-8 --------------------------------------------------------------------------------------------


def test_6_1_valid_utf8_is_published():
    text = "κόσμε € 😀 \u0800 \ufffd"
    case([frame(OP_TEXT, text.encode())], published=[text])


def test_6_2_utf8_split_inside_a_character_across_fragments_is_published():
    encoded = "😀€é".encode()
    pieces = [encoded[0:1], encoded[1:3], encoded[3:5], encoded[5:8], encoded[8:]]
    frames = [frame(OP_TEXT, pieces[0], fin=False)]
    frames += [frame(OP_CONT, p, fin=False) for p in pieces[1:-1]]
    frames.append(frame(OP_CONT, pieces[-1]))
    case(frames, published=["😀€é"])


def test_6_3_invalid_utf8_gets_1007():
    for bad in (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80\xaf",
                b"caf\xc3"):
        case([frame(OP_TEXT, bad)], close=1007)


def test_6_4_invalid_utf8_in_a_later_fragment_gets_1007():
    case([frame(OP_TEXT, b"good", fin=False), frame(OP_CONT, b"\xce\xba\xff", fin=False), frame(OP_CONT, b"")],
         close=1007)


def test_6_5_a_message_ending_inside_a_character_gets_1007():
    case([frame(OP_TEXT, b"a", fin=False), frame(OP_CONT, b"\xe2\x82")], close=1007)


def test_6_6_a_close_reason_that_is_not_utf8_gets_1007():
    # RFC 6455 5.5.1: the reason is UTF-8; 8.1 and 7.4.1: invalid UTF-8 is answered with 1007.
    case([frame(OP_CLOSE, close_payload(1000, b"bad \xff reason"))], close=1007)


# ---- 7 close --------------------------------------------------------------------------------------------


def test_7_1_a_close_is_echoed_and_the_connection_closed():
    case([frame(OP_CLOSE, close_payload(1000, b"bye"))], close=1000)
    case([frame(OP_CLOSE)], close=1000)  # no code: chatd answers 1000 (docs/api.md)


def test_7_2_the_peer_code_is_echoed():
    # The codes RFC 6455 7.4.1 defines and IANA registered (1012-1014), and the 3000-4999 ranges (7.4.2).
    for code in (1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999):
        case([frame(OP_CLOSE, close_payload(code, "fin é".encode()))], close=code)


def test_7_3_codes_that_may_not_be_sent_get_1002():
    # 1004 reserved, 1005/1006/1015 never on the wire (RFC 6455 7.4.1), 1016-2999 reserved for the
    # protocol, below 1000 and above 4999 undefined (7.4.2); as Autobahn case 7.9.
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        case([frame(OP_CLOSE, close_payload(code))], close=1002)


def test_7_4_a_one_byte_close_payload_gets_1002():
    case([frame(OP_CLOSE, b"\x03")], close=1002)


def test_7_5_frames_after_the_close_are_not_published():
    case([frame(OP_CLOSE, close_payload(1000)), frame(OP_TEXT, b"after close")], close=1000)


def test_7_6_a_message_before_the_close_is_published():
    case([frame(OP_TEXT, b"last words"), frame(OP_CLOSE, close_payload(1000))], close=1000,
         published=["last words"])


def test_7_7_a_close_of_125_bytes_is_echoed_and_one_of_126_gets_1002():
    case([frame(OP_CLOSE, close_payload(1000, b"r" * 123))], close=1000)
    case([frame(OP_CLOSE, close_payload(1000, b"r" * 124))], close=1002)


# ---- 9 limits -------------------------------------------------------------------------------------------


def test_9_1_a_message_at_the_limit_is_published_and_one_byte_more_gets_1009():
    case([frame(OP_TEXT, b"z" * MAX_MESSAGE)], published=["z" * MAX_MESSAGE])
    case([frame(OP_TEXT, b"z" * (MAX_MESSAGE + 1))], close=1009)


def test_9_2_fragments_adding_up_past_the_limit_get_1009():
    half = MAX_MESSAGE // 2
    case([frame(OP_TEXT, b"a" * half, fin=False), frame(OP_CONT, b"b" * half, fin=False), frame(OP_CONT, b"c")],
         close=1009)


def test_9_3_a_declared_length_of_2_64_minus_1_gets_1002_and_one_of_2_62_gets_1009_at_once():
    # Only the header is sent: the answer must not wait for (or buffer) a payload.
    case([bytes([0x81, 0xFF]) + b"\xff" * 8 + b"\x01\x02\x03\x04"], close=1002)
    case([bytes([0x81, 0xFF]) + struct.pack("!Q", 1 << 62) + b"\x01\x02\x03\x04"], close=1009)


def test_9_4_many_small_fragments_are_reassembled():
    frames = [frame(OP_TEXT, b"0", fin=False)]
    frames += [frame(OP_CONT, bytes([48 + i % 10]), fin=False) for i in range(1, 999)]
    frames.append(frame(OP_CONT, b"!"))
    expected = "".join(chr(48 + i % 10) for i in range(999)) + "!"
    case(frames, published=[expected])


if __name__ == "__main__":
    sys.exit(harness.main(globals()))
