// SPDX-License-Identifier: MIT
/*
 * kv-load: a verifying load client for memcached's text protocol, so a
 * key-value server can run among the real programs under a memory cap
 * (tools/run-real-programs) with every value it returns checked.
 *
 * Connection t of N owns the keys k with k mod N == t, so it alone writes
 * them and knows, without locks, the version the last set of each wrote;
 * a value is a stream derived from (key, version), so a get's bytes can be
 * checked against what that set sent. Requests go in batches (pipelined:
 * one write, then the replies in order), to keep the server busy.
 *
 * Phases: load (set every key once), mixed (gets and sets, keys uniform),
 * verify (get every key once). A miss or a wrong byte is counted and makes
 * the exit status 1: the server is started with enough memory that it
 * never evicts, so a miss is lost data too. stdout gets a summary that is
 * the same in every run (counts and a checksum of what was verified);
 * throughput goes to stderr and, with --json, to a file.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define KV_BATCH_MAX 256
#define KV_KEY_MAX 32

struct kv_opts {
	const char *socket_path; /* a unix socket, or NULL for host:port */
	const char *host;
	const char *port;
	uint64_t keys;
	unsigned size;
	unsigned conns;
	uint64_t ops; /* mixed-phase operations, over all connections */
	unsigned set_pct;
	unsigned batch;
	uint64_t seed;
	const char *phases;
	const char *json;
};

/* One request of a batch: what its reply must be. */
struct kv_req {
	uint64_t key;
	uint32_t version;
	bool set;
};

struct kv_conn {
	const struct kv_opts *o;
	unsigned index;
	int fd;
	uint32_t *versions; /* of this connection's keys, by key / conns */
	uint64_t owned;
	uint64_t rng;
	char *out; /* a batch's requests */
	size_t out_len, out_cap;
	char *in; /* replies not parsed yet: [in_pos, in_len) */
	size_t in_pos, in_len, in_cap;
	char *expect; /* a value to compare with */
	struct kv_req reqs[KV_BATCH_MAX];
	unsigned nreqs;
	/* counts of the phase running */
	uint64_t sets, gets, hits, misses, wrong, checksum;
	int err; /* -errno or -EPROTO: the connection failed */
};

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * The value a set of (key, version) writes: words from a small dictionary,
 * picked by a hash stream, so a value is text and compresses as a real
 * cache's text values do (lz4 finds the repeated words; hex digits alone,
 * having no repeats, would not compress at all), yet differs for every
 * (key, version).
 */
static void kv_value(uint64_t key, uint32_t version, char *buf, unsigned size)
{
	static const char *const words[16] = {
		"alpha ", "bravo ", "charlie ", "delta ", "echo ", "foxtrot ", "golf ", "hotel ",
		"india ", "juliett ", "kilo ", "lima ", "mike ", "november ", "oscar ", "papa ",
	};
	uint64_t s = key * 0x100000001b3ULL ^ ((uint64_t)version << 40);
	uint64_t w = 0;
	unsigned i = 0, nibbles = 0;

	while (i < size) {
		if (nibbles == 0)
			w = splitmix(&s), nibbles = 16;
		const char *word = words[w & 15];

		w >>= 4;
		nibbles--;
		for (; *word && i < size; word++)
			buf[i++] = *word;
	}
}

static uint64_t kv_hash(uint64_t key, uint32_t version, bool set)
{
	uint64_t s = key ^ ((uint64_t)version << 32) ^ (set ? 1ULL << 63 : 0);

	return splitmix(&s);
}

static int kv_connect(const struct kv_opts *o)
{
	int fd;

	if (o->socket_path) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(o->socket_path) >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		strcpy(sa.sun_path, o->socket_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		return fd;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int rc = getaddrinfo(o->host, o->port, &hints, &res);

	if (rc)
		return -EHOSTUNREACH;
	fd = -ECONNREFUSED;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			fd = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -errno;
	}
	freeaddrinfo(res);
	return fd;
}

static int kv_reserve(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 4096;

	while (n < need)
		n *= 2;
	char *p = realloc(*buf, n);

	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static int kv_queue(struct kv_conn *c, uint64_t key, bool set, bool bump)
{
	const struct kv_opts *o = c->o;
	uint64_t slot = key / o->conns;
	uint32_t version = bump ? ++c->versions[slot] : c->versions[slot];
	int err = kv_reserve(&c->out, &c->out_cap, c->out_len + 64 + o->size + 2);

	if (err)
		return err;
	if (set) {
		c->out_len += sprintf(c->out + c->out_len, "set k%" PRIu64 " 0 0 %u\r\n", key,
				      o->size);
		kv_value(key, version, c->out + c->out_len, o->size);
		c->out_len += o->size;
		memcpy(c->out + c->out_len, "\r\n", 2);
		c->out_len += 2;
	} else {
		c->out_len += sprintf(c->out + c->out_len, "get k%" PRIu64 "\r\n", key);
	}
	c->reqs[c->nreqs++] = (struct kv_req){ .key = key, .version = version, .set = set };
	return 0;
}

/* At least n bytes of replies buffered, or an error. */
static int kv_fill(struct kv_conn *c, size_t n)
{
	while (c->in_len - c->in_pos < n) {
		if (c->in_pos) {
			memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
			c->in_len -= c->in_pos;
			c->in_pos = 0;
		}
		int err = kv_reserve(&c->in, &c->in_cap, c->in_len + 65536);

		if (err)
			return err;
		ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		c->in_len += r;
	}
	return 0;
}

/* The next reply line (without its \r\n), or NULL with c->err set. */
static char *kv_line(struct kv_conn *c, size_t *len)
{
	size_t scanned = 0;

	for (;;) {
		char *start = c->in + c->in_pos;
		char *nl = memchr(start + scanned, '\n', c->in_len - c->in_pos - scanned);

		if (nl) {
			if (nl == start || nl[-1] != '\r') {
				c->err = -EPROTO;
				return NULL;
			}
			*len = nl - 1 - start;
			c->in_pos += *len + 2;
			return start;
		}
		scanned = c->in_len - c->in_pos;
		/* A reply line is short: a long one is a broken stream. */
		if (scanned > 1024) {
			c->err = -EPROTO;
			return NULL;
		}
		int err = kv_fill(c, scanned + 1);

		if (err) {
			c->err = err;
			return NULL;
		}
	}
}

static bool kv_is(const char *line, size_t len, const char *word)
{
	return len == strlen(word) && !memcmp(line, word, len);
}

static int kv_get_reply(struct kv_conn *c, const struct kv_req *q)
{
	const struct kv_opts *o = c->o;
	char want[KV_KEY_MAX + 32];
	size_t len;
	char *line = kv_line(c, &len);

	if (!line)
		return c->err;
	c->gets++;
	if (kv_is(line, len, "END")) {
		c->misses++;
		return 0;
	}
	int n = snprintf(want, sizeof(want), "VALUE k%" PRIu64 " 0 ", q->key);
	unsigned long bytes;
	char *end;

	if (len <= (size_t)n || memcmp(line, want, n))
		return c->err = -EPROTO;
	line[len] = '\0';
	bytes = strtoul(line + n, &end, 10);
	if (*end != '\0')
		return c->err = -EPROTO;
	int err = kv_fill(c, bytes + 2);

	if (err)
		return c->err = err;
	kv_value(q->key, q->version, c->expect, o->size);
	if (bytes != o->size || memcmp(c->in + c->in_pos, c->expect, o->size))
		c->wrong++;
	else
		c->hits++, c->checksum += kv_hash(q->key, q->version, false);
	c->in_pos += bytes;
	if (memcmp(c->in + c->in_pos, "\r\n", 2))
		return c->err = -EPROTO;
	c->in_pos += 2;
	line = kv_line(c, &len);
	if (!line)
		return c->err;
	if (!kv_is(line, len, "END"))
		return c->err = -EPROTO;
	return 0;
}

/* Send the batch queued, check every reply in order. */
static int kv_flush(struct kv_conn *c)
{
	for (size_t off = 0; off < c->out_len;) {
		ssize_t w = write(c->fd, c->out + off, c->out_len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return c->err = -errno;
		off += w;
	}
	c->out_len = 0;
	for (unsigned i = 0; i < c->nreqs; i++) {
		const struct kv_req *q = &c->reqs[i];

		if (!q->set) {
			int err = kv_get_reply(c, q);

			if (err)
				return err;
			continue;
		}
		size_t len;
		char *line = kv_line(c, &len);

		if (!line)
			return c->err;
		if (!kv_is(line, len, "STORED")) {
			/* The server refused a value (out of memory): lost data. */
			c->wrong++;
			continue;
		}
		c->sets++;
		c->checksum += kv_hash(q->key, q->version, true);
	}
	c->nreqs = 0;
	return 0;
}

enum kv_phase { KV_LOAD, KV_MIXED, KV_VERIFY };

struct kv_job {
	struct kv_conn *c;
	enum kv_phase phase;
};

static void *kv_run(void *arg)
{
	struct kv_job *job = arg;
	struct kv_conn *c = job->c;
	const struct kv_opts *o = c->o;
	uint64_t n = job->phase == KV_MIXED ? o->ops / o->conns + (c->index < o->ops % o->conns)
					    : c->owned;

	for (uint64_t i = 0; i < n && !c->err; i++) {
		uint64_t key;
		bool set;

		if (job->phase == KV_MIXED) {
			key = (splitmix(&c->rng) % c->owned) * o->conns + c->index;
			set = splitmix(&c->rng) % 100 < o->set_pct;
		} else {
			key = i * o->conns + c->index;
			set = job->phase == KV_LOAD;
		}
		/* The load writes version 0: what a later run's verify expects. */
		if (kv_queue(c, key, set, set && job->phase == KV_MIXED) < 0) {
			c->err = -ENOMEM;
			break;
		}
		if (c->nreqs == o->batch || i + 1 == n)
			kv_flush(c);
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kv-load [options]\n"
		"A verifying load client for memcached's text protocol.\n\n"
		"  -s, --socket PATH   a unix socket (memcached -s PATH)\n"
		"  -H, --host HOST     else TCP to HOST (default 127.0.0.1)\n"
		"  -p, --port PORT     and PORT (default 11211)\n"
		"  -k, --keys N        keys (default 1000000)\n"
		"  -z, --size BYTES    bytes per value (default 512)\n"
		"  -c, --conns N       connections, one thread each (default 4)\n"
		"  -n, --ops N         mixed-phase operations in all (default 2 x keys)\n"
		"  -w, --set-pct P     sets in the mixed phase, percent (default 10)\n"
		"  -b, --batch N       requests per write, 1..%d (default 32)\n"
		"  -S, --seed N        the mixed phase's key stream (default 1)\n"
		"  -P, --phases LIST   of load,mixed,verify (default all three)\n"
		"  -j, --json FILE     each phase's seconds and operations per second\n"
		"      --help          this text\n"
		"      --version       the version\n\n"
		"Exit status: 0 every value verified, 1 a miss or a wrong value,\n"
		"2 usage, 3 a connection or protocol error.\n",
		KV_BATCH_MAX);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

static int parse_args(int argc, char **argv, struct kv_opts *o)
{
	static const struct option longs[] = {
		{ "socket", required_argument, NULL, 's' }, { "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },   { "keys", required_argument, NULL, 'k' },
		{ "size", required_argument, NULL, 'z' },   { "conns", required_argument, NULL, 'c' },
		{ "ops", required_argument, NULL, 'n' },    { "set-pct", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' },  { "seed", required_argument, NULL, 'S' },
		{ "phases", required_argument, NULL, 'P' }, { "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },	    { "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	bool ops_given = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "s:H:p:k:z:c:n:w:b:S:P:j:", longs, NULL)) != -1) {
		uint64_t v = 0;

		if (strchr("kzcnwbS", ch) && parse_u64(optarg, &v)) {
			fprintf(stderr, "kv-load: not a number: %s\n", optarg);
			return 2;
		}
		switch (ch) {
		case 's': o->socket_path = optarg; break;
		case 'H': o->host = optarg; break;
		case 'p': o->port = optarg; break;
		case 'k': o->keys = v; break;
		case 'z': o->size = v; break;
		case 'c': o->conns = v; break;
		case 'n': o->ops = v, ops_given = true; break;
		case 'w': o->set_pct = v; break;
		case 'b': o->batch = v; break;
		case 'S': o->seed = v; break;
		case 'P': o->phases = optarg; break;
		case 'j': o->json = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("kv-load %s\n", UPAGER_VERSION); exit(0);
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !o->keys || !o->size || o->size > (1u << 20) || !o->conns ||
	    o->conns > 64 || o->keys < o->conns || o->set_pct > 100 || !o->batch ||
	    o->batch > KV_BATCH_MAX) {
		fprintf(stderr, "kv-load: bad arguments (--help)\n");
		return 2;
	}
	if (!ops_given)
		o->ops = 2 * o->keys;
	return 0;
}

int main(int argc, char **argv)
{
	struct kv_opts o = { .host = "127.0.0.1", .port = "11211", .keys = 1000000, .size = 512,
			     .conns = 4, .set_pct = 10, .batch = 32, .seed = 1,
			     .phases = "load,mixed,verify" };
	static const char *const names[] = { "load", "mixed", "verify" };
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc;
	struct kv_conn *conns = calloc(o.conns, sizeof(*conns));
	FILE *json = NULL;

	if (!conns)
		return 3;
	for (unsigned t = 0; t < o.conns; t++) {
		struct kv_conn *c = &conns[t];

		c->o = &o;
		c->index = t;
		c->owned = o.keys / o.conns + (t < o.keys % o.conns);
		c->versions = calloc(c->owned, sizeof(*c->versions));
		c->expect = malloc(o.size);
		c->rng = o.seed * 0x2545f4914f6cdd1dULL + t;
		c->fd = kv_connect(&o);
		if (!c->versions || !c->expect || c->fd < 0) {
			fprintf(stderr, "kv-load: connect %s: %s\n",
				o.socket_path ? o.socket_path : o.host,
				strerror(c->fd < 0 ? -c->fd : ENOMEM));
			return 3;
		}
	}
	if (o.json && !(json = fopen(o.json, "w"))) {
		fprintf(stderr, "kv-load: %s: %s\n", o.json, strerror(errno));
		return 3;
	}
	if (json)
		fprintf(json, "{\"keys\": %" PRIu64 ", \"size\": %u, \"conns\": %u, \"phases\": {",
			o.keys, o.size, o.conns);
	printf("kv-load: %" PRIu64 " keys x %u B, %u connections, %" PRIu64
	       " mixed ops (%u%% sets, seed %" PRIu64 ")\n",
	       o.keys, o.size, o.conns, o.ops, o.set_pct, o.seed);
	bool failed = false, first = true;

	for (enum kv_phase ph = KV_LOAD; ph <= KV_VERIFY; ph++) {
		const char *p = strstr(o.phases, names[ph]);
		pthread_t tids[64];
		struct kv_job jobs[64];
		uint64_t sets = 0, gets = 0, hits = 0, misses = 0, wrong = 0, sum = 0;

		if (!p)
			continue;
		double t0 = now();

		for (unsigned t = 0; t < o.conns; t++) {
			struct kv_conn *c = &conns[t];

			c->sets = c->gets = c->hits = c->misses = c->wrong = c->checksum = 0;
			jobs[t] = (struct kv_job){ .c = c, .phase = ph };
			if (pthread_create(&tids[t], NULL, kv_run, &jobs[t])) {
				fprintf(stderr, "kv-load: no thread\n");
				return 3;
			}
		}
		for (unsigned t = 0; t < o.conns; t++)
			pthread_join(tids[t], NULL);
		double secs = now() - t0;

		for (unsigned t = 0; t < o.conns; t++) {
			struct kv_conn *c = &conns[t];

			if (c->err) {
				fprintf(stderr, "kv-load: %s, connection %u: %s\n", names[ph], t,
					c->err == -EPROTO ? "not memcached's protocol"
							  : strerror(-c->err));
				return 3;
			}
			sets += c->sets, gets += c->gets, hits += c->hits;
			misses += c->misses, wrong += c->wrong, sum += c->checksum;
		}
		/* Sums over connections: the same whatever order they ran in. */
		printf("%-6s sets %" PRIu64 " gets %" PRIu64 " verified %" PRIu64 " misses %" PRIu64
		       " wrong %" PRIu64 " checksum %016" PRIx64 "\n",
		       names[ph], sets, gets, hits, misses, wrong, sum);
		double ops = sets + gets + wrong;

		fprintf(stderr, "kv-load: %s: %.2f s, %.0f ops/s\n", names[ph], secs,
			secs > 0 ? ops / secs : 0);
		if (json)
			fprintf(json, "%s\"%s\": {\"seconds\": %.6f, \"ops\": %.0f, \"ops_per_s\": %.1f}",
				first ? "" : ", ", names[ph], secs, ops, secs > 0 ? ops / secs : 0);
		first = false;
		failed |= misses || wrong;
	}
	if (json) {
		fprintf(json, "}, \"ok\": %s}\n", failed ? "false" : "true");
		fclose(json);
	}
	printf("result %s\n", failed ? "FAILED: a value was missing or wrong" : "every value verified");
	return failed ? 1 : 0;
}
