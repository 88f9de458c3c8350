/* SPDX-License-Identifier: MIT */
/*
 * engine_internal.h - accessors for tests that need to reach below the
 * public API (fault injection on the store). Not part of the public API.
 * No locks.
 */
#ifndef PC_API_ENGINE_INTERNAL_H
#define PC_API_ENGINE_INTERNAL_H

struct pc_engine;
struct store;

/* The store the engine serves (for store_inject_fail and store_calls). */
struct store *pc_engine_store(struct pc_engine *e);

#endif
