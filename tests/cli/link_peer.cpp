// A second Ableton Link peer for tests/cli/link_test.sh, against the same
// Link header nextbeat uses. Run only inside a network namespace that has
// loopback alone: Link's discovery multicasts on every interface.
//
//   link_peer UDP_PORT TEMPO_BPM QUANTUM
//
// Starts a session at TEMPO_BPM, listens for nextbeat's OSC replies on
// 127.0.0.1:UDP_PORT, and prints one line per thing seen, the time being
// Link's clock (µs):
//   peers N                     the number of other peers changed
//   tempo BPM T                 the session's tempo (at start, and each change, whoever made it)
//   beat N T B ERR_MS           nextbeat's /nextbeat/beat N arrived at T, when the session's
//                               beat (quantum-aligned) was B; ERR_MS: B's distance from the
//                               nearest whole beat, in ms at the session's tempo (+: late)
//   osc ADDRESS                 any other OSC message from nextbeat
//   set BPM T                   this peer set the session's tempo (command "tempo BPM")
// Commands on stdin: "tempo BPM", "quit".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <ableton/Link.hpp>

namespace {

long long micros(const ableton::Link& link) {
  return static_cast<long long>(link.clock().micros().count());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: link_peer UDP_PORT TEMPO_BPM QUANTUM\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const double quantum = std::atof(argv[3]);
  ableton::Link link(std::atof(argv[2]));
  link.enable(true);

  const int sock = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (sock < 0 || ::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("link_peer: bind");
    return 1;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  std::size_t peers = 0;
  double tempo = 0;
  std::string command;
  for (;;) {
    pollfd fds[2] = {{sock, POLLIN, 0}, {0, POLLIN, 0}};
    ::poll(fds, 2, 1);
    const auto state = link.captureAppSessionState();
    if (std::abs(state.tempo() - tempo) > 1e-6) {
      tempo = state.tempo();
      std::printf("tempo %.3f %lld\n", tempo, micros(link));
    }
    if (link.numPeers() != peers) {
      peers = link.numPeers();
      std::printf("peers %zu\n", peers);
    }
    if ((fds[0].revents & POLLIN) != 0) {
      char buf[2048];
      const ssize_t n = ::recv(sock, buf, sizeof buf - 1, 0);
      const auto now = link.clock().micros();  // as soon as it arrived
      if (n > 0) {
        buf[n] = 0;
        const std::string address(buf);
        if (address == "/nextbeat/beat" && n >= 24 && std::strncmp(buf + 16, ",i", 2) == 0) {
          std::uint32_t raw = 0;
          std::memcpy(&raw, buf + 20, 4);
          const auto beat = static_cast<std::int32_t>(ntohl(raw));
          const auto s = link.captureAppSessionState();
          const double b = s.beatAtTime(now, quantum);
          const double err_ms = (b - std::round(b)) * 60000.0 / s.tempo();
          std::printf("beat %d %lld %.4f %.3f\n", beat, static_cast<long long>(now.count()), b, err_ms);
        } else {
          std::printf("osc %s\n", address.c_str());
        }
      }
    }
    if ((fds[1].revents & (POLLIN | POLLHUP)) != 0) {
      char c = 0;
      if (::read(0, &c, 1) != 1) break;
      if (c != '\n') {
        command += c;
        continue;
      }
      if (command == "quit") break;
      if (command.rfind("tempo ", 0) == 0) {
        const double bpm = std::atof(command.c_str() + 6);
        auto s = link.captureAppSessionState();
        const auto at = link.clock().micros();
        s.setTempo(bpm, at);
        link.commitAppSessionState(s);
        std::printf("set %.3f %lld\n", bpm, static_cast<long long>(at.count()));
      }
      command.clear();
    }
  }
  link.enable(false);
  return 0;
}
