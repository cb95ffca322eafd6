# bench/webhook-receiver.py PORT: the endpoint bench/webhook-ingest points its webhook at. It
# answers every POST `200 OK` on a kept-alive connection, counts the requests and their distinct
# `webhook-id`s and notes when the last one arrived; `GET /stats` answers those as JSON. A bare
# asyncio protocol that parses no more than it must: it shares the machine's two cores with
# ephemail and its PostgreSQL.
import asyncio, json, sys, time

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
ids, stats = set(), {"requests": 0, "bytes": 0, "first": None, "last": None, "bad": 0}


class Conn(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf = transport, b""

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            fields = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            length = int(fields.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body, self.buf = self.buf[end + 4:end + 4 + length], self.buf[end + 4 + length:]
            if head[0].startswith("GET /stats"):
                out = json.dumps({**stats, "ids": len(ids)}).encode()
                self.t.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(out), out))
                continue
            now = time.time()
            stats["requests"] += 1
            stats["bytes"] += len(body)
            stats["first"] = stats["first"] or now
            stats["last"] = now
            if "webhook-id" in fields and "webhook-signature" in fields and body[:1] == b"{":
                ids.add(fields["webhook-id"])
            else:
                stats["bad"] += 1
            self.t.write(OK)


async def main(port):
    server = await asyncio.get_running_loop().create_server(Conn, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
