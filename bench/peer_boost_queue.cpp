/* SPDX-License-Identifier: MIT */
// Boost.Interprocess peer for the "queue" suite: message_queue with 2
// producer and 2 consumer processes (4 processes, pinned alternately to two
// CPUs), the set-up suite_queue.c measures shmkit's MPMC 2x2 in.
// Usage: peer_boost_queue SIZE PER_PRODUCER CPU_A CPU_B
// Prints "msgs_per_s=<rate>" on success, exit 1 otherwise.
#include <boost/interprocess/ipc/message_queue.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>

namespace bip = boost::interprocess;

static void pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	size_t size = std::strtoull(argv[1], nullptr, 10);
	size_t per = std::strtoull(argv[2], nullptr, 10);
	int cpu[2] = { std::atoi(argv[3]), std::atoi(argv[4]) };
	std::string name = "shmkit-bench-boost-" + std::to_string(getpid());
	bip::message_queue::remove(name.c_str());
	try {
		bip::message_queue mq(bip::create_only, name.c_str(), 256, size);
		auto *go = static_cast<std::atomic<int> *>(mmap(nullptr, 64, PROT_READ | PROT_WRITE,
							       MAP_SHARED | MAP_ANONYMOUS, -1, 0));
		new (go) std::atomic<int>(0);
		pid_t kids[4];
		for (int k = 0; k < 4; k++) {
			kids[k] = fork();
			if (kids[k] == 0) {
				pin(cpu[k & 1]);
				bip::message_queue q(bip::open_only, name.c_str());
				std::vector<char> buf(size);
				while (!go->load(std::memory_order_acquire))
					sched_yield();
				if (k < 2) {
					for (size_t i = 0; i < per; i++)
						q.send(buf.data(), size, 0);
				} else {
					for (;;) {
						bip::message_queue::size_type got;
						unsigned prio;
						q.receive(buf.data(), size, got, prio);
						if (got == 0)
							break;
					}
				}
				_exit(0);
			}
		}
		auto t0 = std::chrono::steady_clock::now();
		go->store(1, std::memory_order_release);
		waitpid(kids[0], nullptr, 0);
		waitpid(kids[1], nullptr, 0);
		char none = 0;
		mq.send(&none, 0, 0);
		mq.send(&none, 0, 0);
		waitpid(kids[2], nullptr, 0);
		waitpid(kids[3], nullptr, 0);
		double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
		std::printf("msgs_per_s=%.0f\n", (double)(2 * per) / dt);
	} catch (const std::exception &e) {
		std::fprintf(stderr, "peer_boost_queue: %s\n", e.what());
		bip::message_queue::remove(name.c_str());
		return 1;
	}
	bip::message_queue::remove(name.c_str());
	return 0;
}
