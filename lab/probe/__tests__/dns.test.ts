import { digArgv, parseDig } from '../dns';

// dig's output as bind9-dnsutils 9.18 prints it (Debian 12), read back by the dns probe.

const ANSWER = `
; <<>> DiG 9.18.41-1~deb12u1-Debian <<>> +tries=1 +time=2 +nocookie db.default.svc.cluster.local A
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 25434
;; flags: qr aa rd ra; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
;; QUESTION SECTION:
;db.default.svc.cluster.local.	IN	A

;; ANSWER SECTION:
db.default.svc.cluster.local. 0	IN	A	10.42.1.20
db.default.svc.cluster.local. 0	IN	A	10.42.2.20

;; Query time: 0 msec
;; SERVER: 10.43.0.10#53(10.43.0.10) (UDP)
;; WHEN: Wed Dec 02 02:01:00 UTC 2026
;; MSG SIZE  rcvd: 89
`;

describe('dig for the dns probe', () => {
  it('builds argv: server, tcp, search, one try', () => {
    expect(digArgv({ name: 'web', type: 'A', server: '10.43.0.10', tcp: true, search: true, timeoutS: 2 })).toEqual([
      'dig',
      '@10.43.0.10',
      '+tcp',
      '+search',
      '+tries=1',
      '+time=2',
      '+nocookie',
      'web',
      'A',
    ]);
  });

  it('reads the status, id, answers and the server', () => {
    expect(parseDig(ANSWER)).toEqual({
      status: 'NOERROR',
      id: 25434,
      answers: [
        { name: 'db.default.svc.cluster.local', ttl: 0, type: 'A', data: '10.42.1.20' },
        { name: 'db.default.svc.cluster.local', ttl: 0, type: 'A', data: '10.42.2.20' },
      ],
      server: '10.43.0.10#53(10.43.0.10)',
    });
  });

  it('says when no answer came', () => {
    expect(parseDig(';; communications error to 10.43.0.10#53: timed out\n;; no servers could be reached\n')).toEqual({
      answers: [],
      error: ';; communications error to 10.43.0.10#53: timed out',
    });
  });
});
