/* SPDX-License-Identifier: MIT */
// Boost.Interprocess peer for the "heapmap" suite: managed_shared_memory with
// a boost::unordered_map of fixed 12-byte keys and 16-byte values (plain
// structs: Boost's best case, no shared-memory strings), measured the way
// suite_heapmap.c measures shmkit's map. Prints "name ns" lines:
//   alloc64                 allocate+deallocate 64 B from the segment manager
//   get1k get1m put1k put1m no lock (one process only: not safe to share)
//   *_locked                with interprocess_sharable_mutex (shared for get,
//                           exclusive for put): what sharing it needs
// Usage: peer_boost_map quick|full TAG
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/sync/interprocess_sharable_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>
#include <boost/interprocess/sync/sharable_lock.hpp>
#include <boost/unordered_map.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace bip = boost::interprocess;

struct Key {
	char b[12];
	bool operator==(const Key &o) const { return std::memcmp(b, o.b, sizeof(b)) == 0; }
};
struct Val {
	char b[16];
};
struct KeyHash {
	std::size_t operator()(const Key &k) const
	{
		// FNV-1a over the 12 bytes
		std::size_t h = 1469598103934665603ull;
		for (char c : k.b)
			h = (h ^ (unsigned char)c) * 1099511628211ull;
		return h;
	}
};
typedef std::pair<const Key, Val> Pair;
typedef bip::allocator<Pair, bip::managed_shared_memory::segment_manager> PairAlloc;
typedef boost::unordered_map<Key, Val, KeyHash, std::equal_to<Key>, PairAlloc> Map;

static unsigned long long rng = 0x9e3779b97f4a7c15ull;
static unsigned long long rnd()
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static Key make_key(unsigned i)
{
	Key k;
	char tmp[16];
	std::snprintf(tmp, sizeof(tmp), "k%011u", i);
	std::memcpy(k.b, tmp, sizeof(k.b));
	return k;
}

static double now_ns()
{
	return (double)std::chrono::duration_cast<std::chrono::nanoseconds>(
		       std::chrono::steady_clock::now().time_since_epoch())
		.count();
}

template <class F> static double median_ns(F f, std::size_t n, int batches)
{
	std::vector<double> v;
	f(n / 4);
	for (int b = 0; b < batches; b++) {
		double t0 = now_ns();
		f(n);
		v.push_back((now_ns() - t0) / (double)n);
	}
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

struct Root {
	bip::interprocess_sharable_mutex mtx;
};

static void run_map(const char *name, unsigned nkeys, std::size_t seg_size, std::size_t ops, const char *tag)
{
	bip::shared_memory_object::remove(name);
	{
		bip::managed_shared_memory seg(bip::create_only, name, seg_size);
		Map *m = seg.construct<Map>("map")(nkeys, KeyHash(), std::equal_to<Key>(),
						 seg.get_segment_manager());
		Root *root = seg.construct<Root>("root")();
		Val v;
		std::memset(v.b, 'v', sizeof(v.b));
		for (unsigned i = 0; i < nkeys; i++)
			(*m)[make_key(i)] = v;
		std::vector<Key> keys(ops);
		for (auto &k : keys)
			k = make_key((unsigned)(rnd() % nkeys));
		volatile char sink = 0;
		auto get = [&](std::size_t n) {
			for (std::size_t i = 0; i < n; i++) {
				auto it = m->find(keys[i]);
				if (it != m->end())
					sink = sink + it->second.b[0];
			}
		};
		auto get_locked = [&](std::size_t n) {
			for (std::size_t i = 0; i < n; i++) {
				bip::sharable_lock<bip::interprocess_sharable_mutex> l(root->mtx);
				auto it = m->find(keys[i]);
				if (it != m->end())
					sink = sink + it->second.b[0];
			}
		};
		auto put = [&](std::size_t n) {
			for (std::size_t i = 0; i < n; i++)
				(*m)[keys[i]] = v;
		};
		auto put_locked = [&](std::size_t n) {
			for (std::size_t i = 0; i < n; i++) {
				bip::scoped_lock<bip::interprocess_sharable_mutex> l(root->mtx);
				(*m)[keys[i]] = v;
			}
		};
		std::printf("get%s %.2f\n", tag, median_ns(get, ops, 9));
		std::printf("get%s_locked %.2f\n", tag, median_ns(get_locked, ops, 9));
		std::printf("put%s %.2f\n", tag, median_ns(put, ops, 9));
		std::printf("put%s_locked %.2f\n", tag, median_ns(put_locked, ops, 9));
	}
	bip::shared_memory_object::remove(name);
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && std::strcmp(argv[1], "quick") == 0;
	std::string base = std::string("shmkit-bench-boost-") + (argc > 2 ? argv[2] : "0");
	std::size_t ops = quick ? 20000 : 200000;
	std::string name = base + "-alloc";
	bip::shared_memory_object::remove(name.c_str());
	{
		bip::managed_shared_memory seg(bip::create_only, name.c_str(), 64u << 20);
		auto pair = [&](std::size_t n) {
			for (std::size_t i = 0; i < n; i++) {
				void *p = seg.allocate(64);
				seg.deallocate(p);
			}
		};
		std::printf("alloc64 %.2f\n", median_ns(pair, ops, 9));
	}
	bip::shared_memory_object::remove(name.c_str());
	name = base + "-map";
	run_map(name.c_str(), 1024, 1u << 20, ops, "1k");
	run_map(name.c_str(), 1u << 20, 256u << 20, ops, "1m");
	return 0;
}
