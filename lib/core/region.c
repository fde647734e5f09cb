/* SPDX-License-Identifier: MIT */
/*
 * region.c - the region tree: an AVL tree of non-overlapping regions keyed
 * by start address, with the kernel's split and merge rules on top.
 *
 * Removal relinks nodes instead of copying a successor's contents into the
 * removed node, so a struct region keeps its identity for as long as it is
 * in the tree.
 */
#include "core/region.h"
#include "core/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Nodes come from a pool, not malloc: see pool.h. */
static struct pool node_pool = POOL_INIT(struct region);

static struct region *region_node_alloc(void)
{
	return pool_alloc(&node_pool);
}

static void region_node_free(struct region *r)
{
	pool_free(&node_pool, r);
}

void region_fork_child(void)
{
	pool_fork_child(&node_pool);
}

static int height(const struct region *r)
{
	return r ? r->height : 0;
}

static void update_height(struct region *r)
{
	int hl = height(r->left), hr = height(r->right);

	r->height = 1 + (hl > hr ? hl : hr);
}

static struct region *rotate_right(struct region *r)
{
	struct region *l = r->left;

	r->left = l->right;
	l->right = r;
	update_height(r);
	update_height(l);
	return l;
}

static struct region *rotate_left(struct region *r)
{
	struct region *rt = r->right;

	r->right = rt->left;
	rt->left = r;
	update_height(r);
	update_height(rt);
	return rt;
}

static struct region *rebalance(struct region *r)
{
	int balance;

	update_height(r);
	balance = height(r->left) - height(r->right);
	if (balance > 1) {
		if (height(r->left->left) < height(r->left->right))
			r->left = rotate_left(r->left);
		return rotate_right(r);
	}
	if (balance < -1) {
		if (height(r->right->right) < height(r->right->left))
			r->right = rotate_right(r->right);
		return rotate_left(r);
	}
	return r;
}

static struct region *avl_insert(struct region *node, struct region *n)
{
	if (!node)
		return n;
	if (n->start < node->start)
		node->left = avl_insert(node->left, n);
	else
		node->right = avl_insert(node->right, n);
	return rebalance(node);
}

/* Detach the leftmost node of @node's subtree into *@min. */
static struct region *avl_detach_min(struct region *node, struct region **min)
{
	if (!node->left) {
		*min = node;
		return node->right;
	}
	node->left = avl_detach_min(node->left, min);
	return rebalance(node);
}

/* Unlink @victim (which must be in the subtree) without freeing it. */
static struct region *avl_remove(struct region *node, const struct region *victim)
{
	struct region *min, *rest;

	if (node == victim) {
		if (!node->right)
			return node->left;
		rest = avl_detach_min(node->right, &min);
		min->left = node->left;
		min->right = rest;
		return rebalance(min);
	}
	if (victim->start < node->start)
		node->left = avl_remove(node->left, victim);
	else
		node->right = avl_remove(node->right, victim);
	return rebalance(node);
}

static void tree_link(struct region_tree *tree, struct region *r)
{
	r->left = r->right = NULL;
	r->height = 1;
	tree->root = avl_insert(tree->root, r);
	tree->count++;
}

static void tree_unlink(struct region_tree *tree, struct region *r)
{
	tree->root = avl_remove(tree->root, r);
	tree->count--;
}

void region_tree_init(struct region_tree *tree, unsigned long page_size)
{
	memset(tree, 0, sizeof(*tree));
	tree->page_size = page_size;
}

static void clear_subtree(struct region *r, region_visit_fn visit, void *ctx)
{
	if (!r)
		return;
	clear_subtree(r->left, visit, ctx);
	if (visit)
		visit(ctx, r);
	clear_subtree(r->right, visit, ctx);
	region_node_free(r);
}

void region_tree_clear(struct region_tree *tree, region_visit_fn visit, void *ctx)
{
	clear_subtree(tree->root, visit, ctx);
	tree->root = NULL;
	tree->count = 0;
}

struct region *region_find_next(const struct region_tree *tree, uintptr_t addr)
{
	struct region *r = tree->root, *best = NULL;

	/* Regions are disjoint and sorted, so ends are sorted too: the lowest
	 * region with end > addr is found by the same descent as a start key. */
	while (r) {
		if (r->end > addr) {
			best = r;
			r = r->left;
		} else {
			r = r->right;
		}
	}
	return best;
}

struct region *region_next_in(const struct region_tree *tree, uintptr_t *at, uintptr_t end,
			      uintptr_t *s, uintptr_t *e)
{
	struct region *r = *at < end ? region_find_next(tree, *at) : NULL;

	if (!r || !region_clip(r, *at, end, s, e))
		return NULL;
	*at = *e;
	return r;
}

struct region *region_find(const struct region_tree *tree, uintptr_t addr)
{
	struct region *r = region_find_next(tree, addr);

	return r && r->start <= addr ? r : NULL;
}

bool region_range_is_free(const struct region_tree *tree, uintptr_t start,
			  uintptr_t end)
{
	struct region *r = region_find_next(tree, start);

	return !r || r->start >= end;
}

bool region_range_is_covered(const struct region_tree *tree, uintptr_t start,
			     uintptr_t end)
{
	uintptr_t at = start;

	while (at < end) {
		struct region *r = region_find(tree, at);

		if (!r)
			return false;
		at = r->end;
	}
	return true;
}

static uint64_t pages_between(const struct region_tree *tree, uintptr_t from,
			      uintptr_t to)
{
	return (to - from) / tree->page_size;
}

static bool can_merge(const struct region_tree *tree, const struct region *a,
		      const struct region *b)
{
	if (a->end != b->start || a->prot != b->prot || a->flags != b->flags ||
	    a->object != b->object)
		return false;
	return !a->object ||
	       a->pgoff + pages_between(tree, a->start, a->end) == b->pgoff;
}

/* Merge every compatible adjacent pair touching [start, end]. */
static void merge_range(struct region_tree *tree, uintptr_t start, uintptr_t end)
{
	struct region *r = region_find_next(tree, start ? start - 1 : 0);

	while (r && r->start <= end) {
		struct region *next = region_find_next(tree, r->end);

		if (next && can_merge(tree, r, next)) {
			r->end = next->end;
			tree_unlink(tree, next);
			region_node_free(next);
			continue;
		}
		r = next;
	}
}

/* Split @r at @at: @r keeps [start, at), @spare becomes [at, end). */
static void split_at(struct region_tree *tree, struct region *r, uintptr_t at,
		     struct region *spare)
{
	*spare = *r;
	spare->start = at;
	spare->pgoff = r->pgoff + pages_between(tree, r->start, at);
	r->end = at;
	tree_link(tree, spare);
}

int region_insert(struct region_tree *tree, uintptr_t start, uintptr_t end,
		  int prot, unsigned int flags, struct object *object, uint64_t pgoff)
{
	struct region *r;

	if (!region_range_is_free(tree, start, end))
		return -EEXIST;
	r = region_node_alloc();
	if (!r)
		return -ENOMEM;
	r->start = start;
	r->end = end;
	r->prot = prot;
	r->flags = flags;
	r->object = object;
	r->pgoff = pgoff;
	tree_link(tree, r);
	merge_range(tree, start, end);
	return 0;
}

static void visit_piece(const struct region_tree *tree, const struct region *r,
			uintptr_t start, uintptr_t end, region_visit_fn visit,
			void *ctx)
{
	struct region piece = *r;

	if (!visit)
		return;
	piece.start = start;
	piece.end = end;
	piece.pgoff = r->pgoff + pages_between(tree, r->start, start);
	piece.left = piece.right = NULL;
	visit(ctx, &piece);
}

int region_remove_range(struct region_tree *tree, uintptr_t start,
			uintptr_t end, region_visit_fn visit, void *ctx)
{
	struct region *r = region_find_next(tree, start);

	if (r && r->start < start && r->end > end) {
		/* A hole in the middle of one region: the only case that
		 * needs memory, so it is allocated before anything changes. */
		struct region *tail = region_node_alloc();

		if (!tail)
			return -ENOMEM;
		visit_piece(tree, r, start, end, visit, ctx);
		split_at(tree, r, end, tail);
		r->end = start;
		return 0;
	}
	while (r && r->start < end) {
		struct region *next;

		if (r->start < start) {
			visit_piece(tree, r, start, r->end, visit, ctx);
			r->end = start;
		} else if (r->end > end) {
			visit_piece(tree, r, r->start, end, visit, ctx);
			r->pgoff += pages_between(tree, r->start, end);
			r->start = end;
			break;
		} else {
			visit_piece(tree, r, r->start, r->end, visit, ctx);
			next = region_find_next(tree, r->end);
			tree_unlink(tree, r);
			region_node_free(r);
			r = next;
			continue;
		}
		r = region_find_next(tree, r->end);
	}
	return 0;
}

/*
 * Change an attribute on every part of a region inside [start, end):
 * regions straddling an end are split there when @changes says the
 * change would make them differ, each region inside gets @apply, and
 * neighbours that end up equal merge. Holes are passed over. Returns 0,
 * or -ENOMEM when a split could not allocate (the tree is then
 * unchanged: both spare nodes are taken first).
 */
static int change_range(struct region_tree *tree, uintptr_t start, uintptr_t end,
			bool (*changes)(const struct region *r, const void *arg),
			void (*apply)(struct region *r, const void *arg), const void *arg)
{
	struct region *spare[2], *r;
	int used = 0;

	spare[0] = region_node_alloc();
	spare[1] = region_node_alloc();
	if (!spare[0] || !spare[1]) {
		region_node_free(spare[0]);
		region_node_free(spare[1]);
		return -ENOMEM;
	}
	r = region_find(tree, start);
	if (r && r->start < start && changes(r, arg))
		split_at(tree, r, start, spare[used++]);
	r = region_find(tree, end - 1);
	if (r && r->end > end && changes(r, arg))
		split_at(tree, r, end, spare[used++]);
	for (r = region_find_next(tree, start); r && r->start < end;
	     r = region_find_next(tree, r->end))
		apply(r, arg);
	while (used < 2)
		region_node_free(spare[used++]);
	merge_range(tree, start, end);
	return 0;
}

static bool prot_changes(const struct region *r, const void *arg)
{
	return r->prot != *(const int *)arg;
}

static void prot_apply(struct region *r, const void *arg)
{
	r->prot = *(const int *)arg;
}

int region_protect_range(struct region_tree *tree, uintptr_t start,
			 uintptr_t end, int prot)
{
	if (!region_range_is_covered(tree, start, end))
		return -ENOMEM;
	return change_range(tree, start, end, prot_changes, prot_apply, &prot);
}

struct flag_change {
	unsigned int set, clear;
};

static bool flags_change(const struct region *r, const void *arg)
{
	const struct flag_change *c = arg;

	return ((r->flags | c->set) & ~c->clear) != r->flags;
}

static void flags_apply(struct region *r, const void *arg)
{
	const struct flag_change *c = arg;

	r->flags = (r->flags | c->set) & ~c->clear;
}

int region_flag_range(struct region_tree *tree, uintptr_t start, uintptr_t end,
		      unsigned int set, unsigned int clear)
{
	struct flag_change c = { set, clear };

	return change_range(tree, start, end, flags_change, flags_apply, &c);
}

static void for_each_subtree(const struct region *r, region_visit_fn visit,
			     void *ctx)
{
	if (!r)
		return;
	for_each_subtree(r->left, visit, ctx);
	visit(ctx, r);
	for_each_subtree(r->right, visit, ctx);
}

void region_for_each(const struct region_tree *tree, region_visit_fn visit,
		     void *ctx)
{
	for_each_subtree(tree->root, visit, ctx);
}

struct validate_state {
	const struct region_tree *tree;
	const struct region *prev;
	size_t seen;
	const char *why;
};

/* Returns the subtree height, or -1 after recording a violation. */
static int validate_subtree(const struct region *r, struct validate_state *s)
{
	int hl, hr;
	unsigned long mask = s->tree->page_size - 1;

	if (!r)
		return 0;
	hl = validate_subtree(r->left, s);
	if (hl < 0)
		return -1;
	if (r->start >= r->end)
		s->why = "empty or inverted region";
	else if ((r->start | r->end) & mask)
		s->why = "unaligned region bounds";
	else if (s->prev && s->prev->end > r->start)
		s->why = "regions overlap or are out of order";
	else if (s->prev && can_merge(s->tree, s->prev, r))
		s->why = "adjacent compatible regions were not merged";
	if (s->why)
		return -1;
	s->prev = r;
	s->seen++;
	hr = validate_subtree(r->right, s);
	if (hr < 0)
		return -1;
	if (hl - hr > 1 || hr - hl > 1)
		s->why = "AVL balance violated";
	else if (r->height != 1 + (hl > hr ? hl : hr))
		s->why = "stale AVL height";
	return s->why ? -1 : r->height;
}

int region_tree_validate(const struct region_tree *tree, const char **why)
{
	struct validate_state s = { .tree = tree };

	if (validate_subtree(tree->root, &s) >= 0 && s.seen != tree->count)
		s.why = "region count does not match the tree";
	if (why)
		*why = s.why;
	return s.why ? -EUCLEAN : 0;
}
