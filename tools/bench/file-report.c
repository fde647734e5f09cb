/* SPDX-License-Identifier: MIT */
/*
 * file-report.c - what a run of upager-bench file prints: rows of medians
 * over runs, the ratios to the kernel's mmap, the targets, and the JSON.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "file.h"
#include "hist.h"
#include "report.h"

/* ---- report --------------------------------------------------------------------------- */

/* One row: medians over the valid runs; p50/p99 from the run with the
 * median throughput; max over runs; bad pages summed over runs. */
struct row {
	struct bench_row h;
	double secs, max, bad;
	double c[8];
};

/* The counters of a row, in column order. */
static const char *const counter_name[8] = { "disk_reads", "faults", "faults_minor",
					     "file_reads", "readahead_pages", "file_writes",
					     "clean_drops", "sigbus" };

static void counters_get(const struct counters *c, double *v)
{
	v[0] = (double)c->disk_reads;
	v[1] = (double)c->faults;
	v[2] = (double)c->minor;
	v[3] = (double)c->file_reads;
	v[4] = (double)c->readahead;
	v[5] = (double)c->file_writes;
	v[6] = (double)c->clean_drops;
	v[7] = (double)c->sigbus;
}

static void row_get(struct bench *b, enum impl impl, enum pass pass, struct row *r)
{
	const struct sample *runs = file_sample_at(b, impl, pass, 0);
	double pps[MAX_RUNS] = { 0 }, p50[MAX_RUNS] = { 0 }, p99[MAX_RUNS] = { 0 };
	double secs[MAX_RUNS], v[8][MAX_RUNS];
	unsigned int n = 0;

	memset(r, 0, sizeof(*r));
	for (unsigned int i = 0; i < b->runs; i++) {
		const struct sample *s = &runs[i];
		double c[8];

		if (!s->valid)
			continue;
		pps[n] = s->pps;
		p50[n] = s->p50;
		p99[n] = s->p99;
		secs[n] = s->secs;
		counters_get(&s->c, c);
		for (int k = 0; k < 8; k++)
			v[k][n] = c[k];
		if (s->max > r->max)
			r->max = s->max;
		r->bad += (double)s->bad;
		n++;
	}
	bench_row_from(&r->h, pps, p50, p99, n);
	if (!n)
		return;
	r->secs = bench_median(secs, n);
	for (int k = 0; k < 8; k++)
		r->c[k] = bench_median(v[k], n);
}

static double ratio_get(struct bench *b, enum pass pass, bool *ok)
{
	struct row up, kern;

	row_get(b, IMPL_UPAGER, pass, &up);
	row_get(b, IMPL_KERNEL, pass, &kern);
	*ok = up.h.valid && kern.h.valid;
	return bench_ratio(up.h.pps, kern.h.pps);
}

/* The device's read-ahead for the file's block device, or "?". */
static void read_ahead_kb(struct bench *b, char *buf, size_t len)
{
	/* A partition has its queue in its disk's directory. */
	static const char *const queue[] = { "queue", "../queue" };
	struct stat st;

	snprintf(buf, len, "?");
	if (fstat(b->fd, &st))
		return;
	for (size_t i = 0; i < sizeof(queue) / sizeof(queue[0]); i++) {
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s/read_ahead_kb",
			 major(st.st_dev), minor(st.st_dev), queue[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
		return;
	}
}

static void print_header(struct bench *b)
{
	char handlers[16], ra[32];

	snprintf(handlers, sizeof(handlers), "%u", b->co.handlers);
	read_ahead_kb(b, ra, sizeof(ra));
	printf("upager-bench file: file %s, %" PRIu64 " MiB (%zu pages), budget %" PRIu64
	       " MiB, ops %" PRIu64 ", runs %u, upager handlers %s\n", b->file_path,
	       b->file_size / MIB, b->pages, b->budget / MIB, b->ops, b->runs,
	       b->co.handlers ? handlers : "library default");
	printf("upager: upager_map_file(MAP_SHARED), max_resident = budget, swap store %s\n",
	       b->store_path);
	printf("kernel: mmap(MAP_SHARED), no memory limit, device read_ahead_kb %s\n", ra);
	printf("every pass on a fresh mapping, after fdatasync + POSIX_FADV_DONTNEED%s; "
	       "file pages still in the page cache after a drop: at most %" PRIu64 "\n",
	       b->drop_sys ? " + drop_caches=1" : " (drop_caches not writable)", b->cached_max);
	if (b->drop_failed)
		printf("warning: posix_fadvise(POSIX_FADV_DONTNEED) failed\n");
}

static void print_legend(void)
{
	printf("pages/s: pages (rand-read: accesses) / pass wall time, median over runs; time: "
	       "median pass seconds;\np50/p99: every access timed, from the median-throughput run; "
	       "max: slowest access over runs (sync: the sync call)\n");
	printf("disk rd: pages the process read from the device (/proc/self/io read_bytes); "
	       "faults/minor: upager faults/faults_minor, kernel ru_majflt+ru_minflt/ru_minflt;\n"
	       "file rd, ra, file wr, clean: upager file_reads, readahead_pages, file_writes, "
	       "clean_drops; bad: pages failing verification, over runs\n\n");
}

static void print_row(struct bench *b, enum impl impl, enum pass pass)
{
	bool up = impl == IMPL_UPAGER, ok;
	double ratio = ratio_get(b, pass, &ok);
	struct row r;

	row_get(b, impl, pass, &r);
	if (!r.h.valid)
		return;
	printf("%-10s %-6s %10.0f %7.2f", file_pass_name[pass], file_impl_name[impl], r.h.pps, r.secs);
	if (pass == PASS_RAND_READ)
		printf(" %8.1f %8.1f", r.h.p50 / 1e3, r.h.p99 / 1e3);
	else
		printf(" %8s %8s", "-", "-");
	printf(" %8.1f", r.max / 1e6);
	bench_print_count(r.c[0], !b->io_missing);
	bench_print_count(r.c[1], true);
	bench_print_count(r.c[2], true);
	for (int k = 3; k < 7; k++)
		bench_print_count(r.c[k], up);
	if (pass == PASS_SYNC)
		printf(" %5s", "-");
	else
		printf(" %5.0f", r.bad);
	if (up && ok)
		printf(" %7.2fx\n", ratio);
	else
		printf(" %8s\n", "-");
}

static void print_targets(struct bench *b)
{
	struct row up;
	bool ok;

	printf("\ntargets (reported, not asserted):\n");
	row_get(b, IMPL_UPAGER, PASS_SEQ_READ, &up);
	printf("  seq-read upager pages/s vs 56k (10x the 5.6k pages/s LLNL's umap managed on such "
	       "a workload): ");
	if (up.h.valid)
		printf("%.0f (%.2fx of 56k)  %s\n", up.h.pps, up.h.pps / TARGET_SEQ_PPS,
		       up.h.pps >= TARGET_SEQ_PPS ? "MET" : "MISSED");
	else
		printf("n/a (no valid run)\n");
	for (int pass = 0; pass < NPASS; pass++) {
		double ratio = ratio_get(b, pass, &ok);
		char what[48];

		snprintf(what, sizeof(what), "%s upager/kernel pages/s", file_pass_name[pass]);
		if (ok)
			printf("  %-34s %.2fx\n", what, ratio);
		else
			printf("  %-34s n/a (no valid run)\n", what);
	}
}

void file_print_table(struct bench *b)
{
	print_header(b);
	print_legend();
	printf("%-10s %-6s %10s %7s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %5s %8s\n", "pass",
	       "impl", "pages/s", "time s", "p50 us", "p99 us", "max ms", "disk rd", "faults",
	       "minor", "file rd", "ra", "file wr", "clean", "bad", "up/kern");
	for (int pass = 0; pass < NPASS; pass++)
		for (int impl = 0; impl < NIMPL; impl++)
			print_row(b, impl, pass);
	printf("\nverify (pread from the disk after the sync, mapping still in place): upager %"
	       PRIu64 " bad pages, kernel %" PRIu64 " bad pages; upager pages written by the "
	       "unmap after the sync: %" PRIu64 "\n", b->verify_bad[IMPL_UPAGER],
	       b->verify_bad[IMPL_KERNEL], b->unmap_writes[IMPL_UPAGER]);
	print_targets(b);
}

int file_print_json(struct bench *b)
{
	struct json_object *config = report_config(b->page, b->runs, RAND_SEED, "median over "
			"valid runs; p50/p99 from the median-throughput run; max over runs; bad "
			"summed over runs");
	struct json_object *root = report_new("file", config), *o = json_object_new_object();
	char what[64];
	bool ok;
	struct row up;

	/* The config stays @config: root holds it, keys can still be added. */
	report_config_paged(config, b->budget, b->co.handlers, b->pages, b->ops);
	report_u64(config, "file_bytes", b->file_size);
	report_bool(config, "drop_caches", b->drop_sys);
	report_u64(config, "cached_pages_after_drop_max", b->cached_max);
	report_u64(o, "upager", b->verify_bad[IMPL_UPAGER]);
	report_u64(o, "kernel", b->verify_bad[IMPL_KERNEL]);
	json_object_object_add(root, "verify_bad", o);
	report_u64(root, "upager_unmap_writes", b->unmap_writes[IMPL_UPAGER]);
	for (int pass = 0; pass < NPASS; pass++) {
		for (int impl = 0; impl < NIMPL; impl++) {
			double ratio = ratio_get(b, pass, &ok);
			struct row r;

			row_get(b, impl, pass, &r);
			if (!r.h.valid)
				continue;
			o = report_row(root, file_impl_name[impl]);
			report_str(o, "pass", file_pass_name[pass]);
			report_u64(o, "runs_valid", r.h.n);
			report_num(o, "pages_per_s", r.h.pps, true);
			report_num(o, "secs", r.secs, true);
			report_num(o, "p50_us", r.h.p50 / 1e3, pass == PASS_RAND_READ);
			report_num(o, "p99_us", r.h.p99 / 1e3, pass == PASS_RAND_READ);
			report_num(o, "max_us", r.max / 1e3, true);
			report_num(o, "bad", r.bad, pass != PASS_SYNC);
			for (int k = 0; k < 8; k++)
				report_num(o, counter_name[k], r.c[k],
					   !(k == 0 && b->io_missing) && !(k >= 3 && impl == IMPL_KERNEL));
			report_ratio(o, "vs_kernel", impl == IMPL_UPAGER && ok ? ratio : 0);
		}
	}
	row_get(b, IMPL_UPAGER, PASS_SEQ_READ, &up);
	report_target(root, "seq-read upager pages/s", up.h.valid, up.h.pps, TARGET_SEQ_PPS, false);
	for (int pass = 0; pass < NPASS; pass++) {
		double ratio = ratio_get(b, pass, &ok);

		/* A comparison without a bound. */
		snprintf(what, sizeof(what), "%s upager/kernel pages/s", file_pass_name[pass]);
		report_target(root, what, ok, ratio, NAN, false);
	}
	if (b->drop_failed)
		report_note(root, "posix_fadvise(DONTNEED) failed: passes may start with pages "
			    "cached");
	return report_print(root, !b->data_error);
}
