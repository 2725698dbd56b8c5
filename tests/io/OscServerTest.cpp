// The OSC layer: decode_osc_packet on packets built with liblo ([unit]), and
// OscServer / OscSender against real peers on loopback ([integration]):
// liblo-tools' oscsend and oscdump, and Pure Data (pd -nogui). A test whose
// tool is missing exits with 77, which ctest reports as skipped.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lo/lo.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/Controls.h"
#include "engine/queues/InputHub.h"
#include "io/osc/OscSender.h"
#include "io/osc/OscServer.h"

#include "Skip.h"
#include "TestPeers.h"
#include "engine/util/TempDirectory.h"

using namespace nextbeat;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Kind = io::OscCommand::Kind;

namespace {
bool is_request(const io::OscCommand& command, io::OscRequest request) {
  return command.kind == Kind::kRequest && command.request == request;
}
}  // namespace
using engine::InputKind;
using engine::TempDirectory;

namespace {

// --- Packets ------------------------------------------------------------------

// An OSC message built with liblo, serialised.
class Msg {
 public:
  explicit Msg(std::string path) : path_(std::move(path)), m_(lo_message_new()) {}
  ~Msg() { lo_message_free(m_); }
  Msg(const Msg&) = delete;
  Msg& operator=(const Msg&) = delete;

  Msg& i(std::int32_t x) { return check(lo_message_add_int32(m_, x)); }
  Msg& f(float x) { return check(lo_message_add_float(m_, x)); }
  Msg& d(double x) { return check(lo_message_add_double(m_, x)); }
  Msg& h(std::int64_t x) { return check(lo_message_add_int64(m_, x)); }
  Msg& s(const char* x) { return check(lo_message_add_string(m_, x)); }
  Msg& sym(const char* x) { return check(lo_message_add_symbol(m_, x)); }
  Msg& t() { return check(lo_message_add_true(m_)); }
  Msg& nil() { return check(lo_message_add_nil(m_)); }
  Msg& blob() {
    const char data[3] = {1, 2, 3};
    lo_blob b = lo_blob_new(sizeof data, data);
    lo_message_add_blob(m_, b);
    lo_blob_free(b);
    return *this;
  }

  std::vector<std::uint8_t> bytes() const {
    std::size_t size = 0;
    void* data = lo_message_serialise(m_, path_.c_str(), nullptr, &size);
    std::vector<std::uint8_t> out(static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
    std::free(data);
    return out;
  }
  operator std::vector<std::uint8_t>() const { return bytes(); }  // NOLINT: packets read better without .bytes()
  lo_message get() const { return m_; }
  const std::string& path() const { return path_; }

 private:
  Msg& check(int result) {
    if (result != 0) throw std::runtime_error("liblo could not add an argument");
    return *this;
  }
  std::string path_;
  lo_message m_;
};

void append_u32(std::vector<std::uint8_t>& out, std::uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(x >> shift));
}

// "#bundle\0", time tag "immediately", then each element with its size.
std::vector<std::uint8_t> bundle(std::initializer_list<std::vector<std::uint8_t>> elements) {
  std::vector<std::uint8_t> out{'#', 'b', 'u', 'n', 'd', 'l', 'e', 0};
  append_u32(out, 0);
  append_u32(out, 1);
  for (const auto& element : elements) {
    append_u32(out, static_cast<std::uint32_t>(element.size()));
    out.insert(out.end(), element.begin(), element.end());
  }
  return out;
}

std::vector<io::OscCommand> decode(const std::vector<std::uint8_t>& packet, std::int64_t time_ns = 42) {
  std::vector<io::OscCommand> out;
  io::decode_osc_packet(packet, time_ns, out);
  return out;
}

io::OscCommand decode_one(const std::vector<std::uint8_t>& packet) {
  auto out = decode(packet);
  REQUIRE(out.size() == 1);
  return out[0];
}

std::string refusal(const std::vector<std::uint8_t>& packet) {
  const io::OscCommand command = decode_one(packet);
  INFO(command.text);
  REQUIRE(command.kind == Kind::kRefused);
  return command.text;
}

std::uint8_t control_id(config::Control control) {
  return static_cast<std::uint8_t>(control);
}

// --- Processes and ports -------------------------------------------------------

bool have_tool(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((fs::path(dir) / name).c_str(), X_OK) == 0) return true;
  return false;
}

// Call first in a test case, before anything runs: a missing tool skips the
// test (exit status 77, ctest's SKIP_RETURN_CODE).
void require_tools(std::initializer_list<const char*> tools, const char* package) {
  for (const char* tool : tools) {
    if (!have_tool(tool)) test::skip_test(std::string(tool) + " not found (Debian package " + package + ")");
  }
}

// A UDP port on 127.0.0.1 that was free a moment ago.
int free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t size = sizeof address;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Sends one datagram from a socket bound to `from` (any 127.x.y.z is local).
void send_datagram(const std::vector<std::uint8_t>& bytes, int port, const char* from = "127.0.0.1") {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in source{};
  source.sin_family = AF_INET;
  REQUIRE(::inet_pton(AF_INET, from, &source.sin_addr) == 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) == 0);
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<std::uint16_t>(port));
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto sent = ::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&target), sizeof target);
  ::close(fd);
  REQUIRE(sent == static_cast<ssize_t>(bytes.size()));
}

// oscdump listening on a free port, ready (it has printed a probe) when the
// constructor returns; stopped with SIGTERM by the destructor.
class OscDump {
 public:
  explicit OscDump(const TempDirectory& dir)
      : port_(free_udp_port()),
        log_(dir.path() / ("oscdump-" + std::to_string(port_) + ".log")),
        process_({"oscdump", "-L", std::to_string(port_)}, log_) {
    process_.close_stdin();
    io::OscSender probe("127.0.0.1", port_);
    for (int i = 0; i < 200 && !contains("/nextbeat/probe"); ++i) {
      probe.send("/nextbeat/probe", {});
      std::this_thread::sleep_for(25ms);
    }
    REQUIRE(contains("/nextbeat/probe"));
  }
  ~OscDump() { process_.terminate(); }
  OscDump(const OscDump&) = delete;
  OscDump& operator=(const OscDump&) = delete;

  int port() const { return port_; }
  std::string output() const { return test::read_file(log_); }
  bool contains(const std::string& text) const { return output().find(text) != std::string::npos; }
  bool wait_for(const std::string& text) const {
    return test::wait_until([&] { return contains(text); });
  }

 private:
  int port_;
  fs::path log_;
  test::Child process_;
};

// --- The server's surroundings ------------------------------------------------

struct FakeRequests : io::OscRequests {
  void request(io::OscRequest what, std::string argument) override {
    record(std::string(io::osc_request_name(what)) + (argument.empty() ? "" : " " + argument));
  }

  std::vector<std::string> calls() {
    const std::lock_guard lock(mutex);
    return calls_;
  }
  bool wait_for(std::size_t n) {
    return test::wait_until([&] { return calls().size() >= n; });
  }

 private:
  void record(std::string call) {
    const std::lock_guard lock(mutex);
    calls_.push_back(std::move(call));
  }
  std::mutex mutex;
  std::vector<std::string> calls_;
};

using test::steady_now_ns;

using test::wait_events;
using test::wait_until;

config::OscConfig loopback_config(int reply_port) {
  config::OscConfig config;
  config.bind = "127.0.0.1";
  config.port = 0;  // a free port: OscServer::port()
  config.reply_host = "127.0.0.1";
  config.reply_port = reply_port;
  config.allow = {"127.0.0.1"};
  return config;
}

// oscsend 127.0.0.1 PORT path types values...: an IP, not "localhost", which
// may resolve to ::1 first.
int oscsend(const TempDirectory& dir, int port, std::vector<std::string> message) {
  std::vector<std::string> argv{"oscsend", "127.0.0.1", std::to_string(port)};
  argv.insert(argv.end(), message.begin(), message.end());
  return test::run(argv, dir.path() / "oscsend.log");
}

}  // namespace

// ============================================================================
// decode_osc_packet
// ============================================================================

TEST_CASE("osc decode: a control with a number becomes a kControl event", "[unit]") {
  const io::OscCommand c = decode_one(Msg("/nextbeat/temperature").f(0.8f));
  REQUIRE(c.kind == Kind::kInput);
  CHECK(c.event.kind == InputKind::kControl);
  CHECK(c.event.control == control_id(config::Control::kTemperature));
  CHECK(c.event.value == Approx(0.8));
  CHECK(c.event.time_ns == 42);

  // Every numeric OSC type; T and F as 1 and 0.
  CHECK(decode_one(Msg("/nextbeat/top_k").i(40)).event.value == 40);
  CHECK(decode_one(Msg("/nextbeat/density").d(1.5)).event.value == 1.5);
  CHECK(decode_one(Msg("/nextbeat/seed").h(4294967295LL)).event.value == 4294967295.0);
  CHECK(decode_one(Msg("/nextbeat/mute").t()).event.value == 1);
  CHECK(decode_one(Msg("/nextbeat/tempo").i(90)).event.control == control_id(config::Control::kTempo));
}

TEST_CASE("osc decode: every control of the table has its address", "[unit]") {
  for (const config::ControlSpec& spec : config::control_specs()) {
    INFO(spec.name);
    const io::OscCommand c = decode_one(Msg("/nextbeat/" + std::string(spec.name)).d(spec.min));
    REQUIRE(c.kind == Kind::kInput);
    CHECK(c.event.kind == InputKind::kControl);
    CHECK(c.event.control == control_id(spec.id));
  }
}

TEST_CASE("osc decode: choices take a name or an index", "[unit]") {
  const io::OscCommand mode = decode_one(Msg("/nextbeat/mode").s("accompany"));
  REQUIRE(mode.kind == Kind::kInput);
  CHECK(mode.event.control == control_id(config::Control::kMode));
  CHECK(mode.event.value == 2);
  CHECK(decode_one(Msg("/nextbeat/mode").i(1)).event.value == 1);
  CHECK(decode_one(Msg("/nextbeat/key").s("F#")).event.value == 7);
  CHECK(decode_one(Msg("/nextbeat/key").sym("Bb")).event.value == 11);
  CHECK(decode_one(Msg("/nextbeat/scale").s("dorian")).event.value == 2);
}

TEST_CASE("osc decode: actions take no argument or any number", "[unit]") {
  for (const char* name : {"tap", "reset", "panic"}) {
    INFO(name);
    const io::OscCommand bare = decode_one(Msg(std::string("/nextbeat/") + name));
    REQUIRE(bare.kind == Kind::kInput);
    CHECK(bare.event.kind == InputKind::kControl);
    CHECK(bare.event.control == control_id(config::find_control(name)->id));
    CHECK(decode_one(Msg(std::string("/nextbeat/") + name).f(0)).kind == Kind::kInput);
  }
  CHECK(refusal(Msg("/nextbeat/tap").s("now")) ==
        "/nextbeat/tap: expected no argument or one number, got a string (s)");
  CHECK(refusal(Msg("/nextbeat/tap").i(1).i(2)) ==
        "/nextbeat/tap: expected no argument or one number, got 2 arguments (,ii)");
}

TEST_CASE("osc decode: notes with 2 or 3 numbers", "[unit]") {
  SECTION("ii: channel 1") {
    const io::OscCommand c = decode_one(Msg("/nextbeat/note").i(60).i(100));
    REQUIRE(c.kind == Kind::kInput);
    CHECK(c.event.kind == InputKind::kNoteOn);
    CHECK(c.event.a == 60);
    CHECK(c.event.b == 100);
    CHECK(c.event.channel == 0);
    CHECK(c.event.time_ns == 42);
  }
  SECTION("iii: Pd's oscformat -f iii, channel 1..16 -> 0..15") {
    const io::OscCommand c = decode_one(Msg("/nextbeat/note").i(64).i(90).i(16));
    REQUIRE(c.kind == Kind::kInput);
    CHECK(c.event.kind == InputKind::kNoteOn);
    CHECK(c.event.channel == 15);
  }
  SECTION("ff and fff: Max's floats") {
    const io::OscCommand c = decode_one(Msg("/nextbeat/note").f(62).f(80));
    REQUIRE(c.kind == Kind::kInput);
    CHECK(c.event.a == 62);
    CHECK(c.event.b == 80);
    CHECK(decode_one(Msg("/nextbeat/note").f(62).f(80).f(3)).event.channel == 2);
    CHECK(decode_one(Msg("/nextbeat/note").d(62).h(80)).event.b == 80);
  }
  SECTION("velocity 0 is a note off") {
    const io::OscCommand c = decode_one(Msg("/nextbeat/note").i(60).i(0).i(2));
    REQUIRE(c.kind == Kind::kInput);
    CHECK(c.event.kind == InputKind::kNoteOff);
    CHECK(c.event.a == 60);
    CHECK(c.event.channel == 1);
  }
  SECTION("refused") {
    CHECK(refusal(Msg("/nextbeat/note").i(60)) ==
          "/nextbeat/note: expected 2 or 3 numbers (pitch 0..127, velocity 0..127, channel 1..16), got an int32 (i)");
    CHECK(refusal(Msg("/nextbeat/note").s("C4").i(100)) ==
          "/nextbeat/note: expected 2 or 3 numbers (pitch 0..127, velocity 0..127, channel 1..16), got 2 arguments "
          "(,si)");
    CHECK(refusal(Msg("/nextbeat/note").i(60).i(100).i(1).i(1)).find("got 4 arguments (,iiii)") != std::string::npos);
    CHECK(refusal(Msg("/nextbeat/note").i(128).i(100)) ==
          "/nextbeat/note: expected an integer pitch in 0..127, got 128");
    CHECK(refusal(Msg("/nextbeat/note").f(60.5f).i(100)) ==
          "/nextbeat/note: expected an integer pitch in 0..127, got 60.5");
    CHECK(refusal(Msg("/nextbeat/note").i(60).i(-1)) ==
          "/nextbeat/note: expected an integer velocity in 0..127, got -1");
    CHECK(refusal(Msg("/nextbeat/note").i(60).i(100).i(0)) ==
          "/nextbeat/note: expected an integer channel in 1..16, got 0");
    CHECK(refusal(Msg("/nextbeat/note").i(60).i(100).i(17)) ==
          "/nextbeat/note: expected an integer channel in 1..16, got 17");
    CHECK(refusal(Msg("/nextbeat/note").f(NAN).i(100)) ==
          "/nextbeat/note: expected an integer pitch in 0..127, got nan");
  }
}

TEST_CASE("osc decode: controls refuse wrong types, counts and values with what they expected", "[unit]") {
  CHECK(refusal(Msg("/nextbeat/temperature").f(12)) == "/nextbeat/temperature: expected a number in 0.01..10, got 12");
  CHECK(refusal(Msg("/nextbeat/temperature")) ==
        "/nextbeat/temperature: expected a number in 0.01..10, got no argument");
  CHECK(refusal(Msg("/nextbeat/temperature").s("hot")) ==
        "/nextbeat/temperature: expected a number in 0.01..10, got \"hot\"");
  CHECK(refusal(Msg("/nextbeat/temperature").blob()) ==
        "/nextbeat/temperature: expected a number in 0.01..10, got a blob (b)");
  CHECK(refusal(Msg("/nextbeat/temperature").f(1).f(2)) ==
        "/nextbeat/temperature: expected a number in 0.01..10, got 2 arguments (,ff)");
  CHECK(refusal(Msg("/nextbeat/temperature").nil()) ==
        "/nextbeat/temperature: expected a number in 0.01..10, got nil (N)");
  CHECK(refusal(Msg("/nextbeat/top_k").f(2.5f)) == "/nextbeat/top_k: expected an integer in 0..1024, got 2.5");
  CHECK(refusal(Msg("/nextbeat/mute").i(2)) == "/nextbeat/mute: expected 0 or 1, got 2");
  CHECK(refusal(Msg("/nextbeat/mode").s("jazz")) ==
        "/nextbeat/mode: expected one of continue | call-response | accompany (or its index), got \"jazz\"");
  CHECK(refusal(Msg("/nextbeat/mode").i(3)) ==
        "/nextbeat/mode: expected one of continue | call-response | accompany (or its index), got 3");
  CHECK(refusal(Msg("/nextbeat/key").s("H")).starts_with("/nextbeat/key: expected one of \"\" | C | C# |"));
}

TEST_CASE("osc decode: learn, model, status, save", "[unit]") {
  const io::OscCommand learn = decode_one(Msg("/nextbeat/learn").s("density"));
  REQUIRE(learn.kind == Kind::kInput);
  CHECK(learn.event.kind == InputKind::kLearn);
  CHECK(learn.event.control == control_id(config::Control::kDensity));
  CHECK(refusal(Msg("/nextbeat/learn").s("bogus"))
            .starts_with("/nextbeat/learn: expected a control name (temperature, top_k, top_p, "));
  CHECK(refusal(Msg("/nextbeat/learn").s("bogus")).ends_with(", panic), got \"bogus\""));
  CHECK(refusal(Msg("/nextbeat/learn")) == "/nextbeat/learn: expected a control name (s), got no argument");

  const io::OscCommand model = decode_one(Msg("/nextbeat/model").s("default:pianoroll"));
  CHECK(model.kind == Kind::kRequest);
  CHECK(model.request == io::OscRequest::kModel);
  CHECK(model.text == "default:pianoroll");
  CHECK(refusal(Msg("/nextbeat/model").i(1)) ==
        "/nextbeat/model: expected a model (s): a file path, default:events or default:pianoroll, got an int32 (i)");
  CHECK(refusal(Msg("/nextbeat/model").s("")).ends_with("got an empty string"));

  CHECK(is_request(decode_one(Msg("/nextbeat/status")), io::OscRequest::kStatus));
  CHECK(is_request(decode_one(Msg("/nextbeat/save")), io::OscRequest::kSave));
  CHECK(refusal(Msg("/nextbeat/status").i(1)) == "/nextbeat/status: expected no argument, got an int32 (i)");

  // /nextbeat/record: a name, an empty one or none (both: a timestamped name); /nextbeat/record/stop: nothing.
  const io::OscCommand record = decode_one(Msg("/nextbeat/record").s("take1"));
  CHECK(is_request(record, io::OscRequest::kRecord));
  CHECK(record.text == "take1");
  CHECK(is_request(decode_one(Msg("/nextbeat/record").s("")), io::OscRequest::kRecord));
  CHECK(decode_one(Msg("/nextbeat/record")).text.empty());
  CHECK(is_request(decode_one(Msg("/nextbeat/record")), io::OscRequest::kRecord));
  CHECK(refusal(Msg("/nextbeat/record").i(1)).starts_with("/nextbeat/record: expected a file name (s)"));
  CHECK(is_request(decode_one(Msg("/nextbeat/record/stop")), io::OscRequest::kRecordStop));
  CHECK(refusal(Msg("/nextbeat/record/stop").s("x")) ==
        "/nextbeat/record/stop: expected no argument, got a string (s)");
}

TEST_CASE("osc decode: unknown addresses are refused, naming what exists", "[unit]") {
  for (const char* path :
       {"/foo", "/nextbeat", "/nextbeat/", "/nextbeat/tempreture", "/nextbeat/out/note", "/Nextbeat/tempo"}) {
    INFO(path);
    const std::string text = refusal(Msg(path).f(1));
    CHECK(text.starts_with(std::string(path) + ": unknown address, expected /nextbeat/ and one of note, learn, model, "
                                               "status, save, record, record/stop or a control (temperature, "));
  }
  // A long string argument is cut too: the reply must fit a datagram.
  const std::string long_text = refusal(Msg("/nextbeat/mode").s(std::string(60000, 'y').c_str()));
  CHECK(long_text.size() == 1000);
  CHECK(long_text.ends_with("yyy..."));
  // A long address is cut in the reply.
  const std::string text = refusal(Msg("/" + std::string(1000, 'x')));
  CHECK(text.starts_with("/xxx"));
  CHECK(text.size() < 600);
}

TEST_CASE("osc decode: bundles, nested, in order", "[unit]") {
  const auto packet = bundle({Msg("/nextbeat/note").i(60).i(100), bundle({Msg("/nextbeat/tempo").f(90)}),
                              Msg("/nextbeat/status"), Msg("/nextbeat/tempo").f(1000)});
  const auto out = decode(packet);
  REQUIRE(out.size() == 4);
  CHECK(out[0].event.kind == InputKind::kNoteOn);
  CHECK(out[1].event.control == control_id(config::Control::kTempo));
  CHECK(out[1].event.value == 90);
  CHECK(is_request(out[2], io::OscRequest::kStatus));
  CHECK(out[3].kind == Kind::kRefused);
  CHECK(out[3].text == "/nextbeat/tempo: expected a number in 20..400, got 1000");
  CHECK(decode(bundle({})).empty());
}

TEST_CASE("osc decode: malformed packets and bundles are refused, never read past the end", "[unit]") {
  CHECK(refusal({}) == "(unreadable address): malformed OSC message: the datagram is empty");
  CHECK(refusal({'a', 'b', 'c'}).starts_with("(unreadable address): malformed OSC message: "));
  // An address with no type tag string (OSC 1.0 made it mandatory).
  CHECK(refusal({'/', 'n', 'b', 0}) == "/nb: malformed OSC message: it has no type tag string");
  // Type tags promise an int32 that is not there.
  CHECK(refusal({'/', 'n', 'b', 0, ',', 'i', 0, 0}) ==
        "/nb: malformed OSC message: an argument does not match its type tag");
  CHECK(refusal({'/', 'n', 'b', 0, 'i', 0, 0, 0}) ==
        "/nb: malformed OSC message: the type tag string does not start with ','");

  auto truncated = bundle({Msg("/nextbeat/status")});
  truncated.resize(truncated.size() - 4);
  CHECK(
      refusal(truncated).starts_with("#bundle: malformed bundle: expected an element size (a multiple of 4, at most "
                                     "20) at byte 16, got 24"));
  auto odd = bundle({Msg("/nextbeat/status")});
  odd[19] = 3;
  CHECK(refusal(odd).starts_with("#bundle: malformed bundle: expected an element size"));
  CHECK(refusal({'#', 'b', 'u', 'n', 'd', 'l', 'e', 0, 0, 0}) ==
        "#bundle: malformed bundle: expected a time tag after #bundle, got 10 bytes in all");

  std::vector<std::uint8_t> deep = Msg("/nextbeat/status");
  for (int i = 0; i < io::kOscMaxBundleDepth; ++i) deep = bundle({deep});
  CHECK(is_request(decode_one(deep), io::OscRequest::kStatus));
  deep = bundle({deep});
  CHECK(refusal(deep) == "#bundle: expected bundles nested at most 8 deep, got deeper");
}

TEST_CASE("osc decode: random bytes and mutated packets only ever refuse", "[unit]") {
  std::mt19937 random(7);
  const std::vector<std::uint8_t> seeds[] = {
      Msg("/nextbeat/note").i(60).i(100).i(1),
      Msg("/nextbeat/mode").s("accompany"),
      bundle({Msg("/nextbeat/tempo").f(90), bundle({Msg("/nextbeat/tap")})}),
  };
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::uint8_t> packet = seeds[round % 3];
    if (round % 4 == 3) {
      packet.assign(random() % 64, 0);
      for (auto& byte : packet) byte = static_cast<std::uint8_t>(random());
    } else {
      for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips)
        packet[random() % packet.size()] = static_cast<std::uint8_t>(random());
      if (random() % 3 == 0) packet.resize(random() % (packet.size() + 1));
    }
    for (const io::OscCommand& c : decode(packet)) {
      if (c.kind == Kind::kInput && (c.event.kind == InputKind::kNoteOn || c.event.kind == InputKind::kNoteOff)) {
        REQUIRE(c.event.a >= 0);
        REQUIRE(c.event.a <= 127);
        REQUIRE(c.event.channel <= 15);
      }
      if (c.kind == Kind::kRefused) REQUIRE(!c.text.empty());
    }
  }
}

// ============================================================================
// OscServer and OscSender against real peers
// ============================================================================

TEST_CASE("osc server: oscsend sets a control and the hub yields it", "[integration]") {
  require_tools({"oscsend"}, "liblo-tools");
  TempDirectory dir("nextbeat-osctest");
  engine::InputHub hub;
  FakeRequests requests;
  io::OscServer server(loopback_config(free_udp_port()), hub, requests);
  CHECK(server.port() > 0);
  CHECK(server.description() == "OSC in on 127.0.0.1:" + std::to_string(server.port()) + " (from 127.0.0.1)");

  const std::int64_t before = steady_now_ns();
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/temperature", "f", "0.8"}) == 0);
  const auto events = wait_events(hub, 1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == InputKind::kControl);
  CHECK(events[0].control == control_id(config::Control::kTemperature));
  CHECK(events[0].value == Approx(0.8));
  CHECK(events[0].port == server.hub_slot());
  CHECK(events[0].time_ns >= before);
  CHECK(events[0].time_ns <= steady_now_ns());

  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/mode", "s", "accompany"}) == 0);
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/key", "s", "F#"}) == 0);
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/tap"}) == 0);
  const auto more = wait_events(hub, 3);
  REQUIRE(more.size() == 3);
  CHECK(more[0].control == control_id(config::Control::kMode));
  CHECK(more[0].value == 2);
  CHECK(more[1].control == control_id(config::Control::kKey));
  CHECK(more[1].value == 7);
  CHECK(more[2].control == control_id(config::Control::kTap));

  const io::OscServerCounters counters = server.counters();
  CHECK(counters.received == 4);
  CHECK(counters.refused == 0);
  CHECK(counters.ignored == 0);
  CHECK(counters.dropped == 0);
}

TEST_CASE("osc server: notes from oscsend as ii, iii and ff", "[integration]") {
  require_tools({"oscsend"}, "liblo-tools");
  TempDirectory dir("nextbeat-osctest");
  engine::InputHub hub;
  FakeRequests requests;
  io::OscServer server(loopback_config(free_udp_port()), hub, requests);

  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/note", "ii", "60", "100"}) == 0);
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/note", "iii", "64", "90", "10"}) == 0);
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/note", "ff", "60", "0"}) == 0);
  const auto events = wait_events(hub, 3);
  REQUIRE(events.size() == 3);
  CHECK(events[0].kind == InputKind::kNoteOn);
  CHECK(events[0].a == 60);
  CHECK(events[0].b == 100);
  CHECK(events[0].channel == 0);
  CHECK(events[1].kind == InputKind::kNoteOn);
  CHECK(events[1].a == 64);
  CHECK(events[1].b == 90);
  CHECK(events[1].channel == 9);
  CHECK(events[2].kind == InputKind::kNoteOff);
  CHECK(events[2].a == 60);
  CHECK(events[0].time_ns <= events[1].time_ns);
  CHECK(events[1].time_ns <= events[2].time_ns);
}

TEST_CASE("osc server: refused messages are counted and answered on the reply port", "[integration]") {
  require_tools({"oscsend", "oscdump"}, "liblo-tools");
  TempDirectory dir("nextbeat-osctest");
  OscDump dump(dir);
  engine::InputHub hub;
  FakeRequests requests;
  io::OscServer server(loopback_config(dump.port()), hub, requests);

  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/temperature", "f", "12"}) == 0);
  CHECK(dump.wait_for("/nextbeat/error s \"/nextbeat/temperature: expected a number in 0.01..10, got 12\""));
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/temperature", "s", "hot"}) == 0);
  CHECK(dump.wait_for("/nextbeat/error s \"/nextbeat/temperature: expected a number in 0.01..10, got \"hot\"\""));
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/tempreture", "f", "0.5"}) == 0);
  CHECK(
      dump.wait_for("/nextbeat/error s \"/nextbeat/tempreture: unknown address, expected /nextbeat/ and one of note"));
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/note", "i", "60"}) == 0);
  CHECK(dump.wait_for("/nextbeat/error s \"/nextbeat/note: expected 2 or 3 numbers"));
  send_datagram({'/', 'n', 'b', 0}, server.port());
  CHECK(dump.wait_for("/nextbeat/error s \"/nb: malformed OSC message: it has no type tag string\""));

  CHECK(wait_until([&] { return server.counters().refused == 5; }));
  CHECK(server.counters().received == 5);
  CHECK(server.counters().ignored == 0);
  engine::InputEvent event;
  CHECK_FALSE(hub.pop(event));
}

TEST_CASE("osc server: senders not in osc.allow are ignored without a reply", "[integration]") {
  require_tools({"oscsend", "oscdump"}, "liblo-tools");
  TempDirectory dir("nextbeat-osctest");
  OscDump dump(dir);
  engine::InputHub hub;
  FakeRequests requests;
  config::OscConfig config = loopback_config(dump.port());
  config.allow = {"127.0.0.2"};
  io::OscServer server(config, hub, requests);
  CHECK(server.description() == "OSC in on 127.0.0.1:" + std::to_string(server.port()) + " (from 127.0.0.2)");

  // oscsend sends from 127.0.0.1: ignored, a valid message and a bad one alike.
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/temperature", "f", "0.8"}) == 0);
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/temperature", "f", "12"}) == 0);
  CHECK(wait_until([&] { return server.counters().ignored == 2; }));
  // From 127.0.0.2, the same message is taken, and the bad one answered.
  send_datagram(Msg("/nextbeat/temperature").f(0.5f), server.port(), "127.0.0.2");
  send_datagram(Msg("/nextbeat/temperature").f(13), server.port(), "127.0.0.2");
  const auto events = wait_events(hub, 1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].value == 0.5);
  CHECK(dump.wait_for("got 13"));
  CHECK_FALSE(dump.contains("got 12"));
  const io::OscServerCounters counters = server.counters();
  CHECK(counters.ignored == 2);
  CHECK(counters.received == 2);
  CHECK(counters.refused == 1);
}

TEST_CASE("osc server: bundles from liblo, and requests to OscRequests", "[integration]") {
  require_tools({"oscsend", "oscdump"}, "liblo-tools");
  TempDirectory dir("nextbeat-osctest");
  OscDump dump(dir);
  engine::InputHub hub;
  FakeRequests requests;
  io::OscServer server(loopback_config(dump.port()), hub, requests);

  // A bundle sent by liblo itself, one nested, with a bad element in it.
  const lo_address to = lo_address_new("127.0.0.1", std::to_string(server.port()).c_str());
  // Ownership as liblo 0.31 has it: a bundle takes over the messages and
  // bundles added to it, and lo_bundle_free_recursive frees them all.
  const lo_bundle outer = lo_bundle_new(LO_TT_IMMEDIATE);
  const lo_bundle inner = lo_bundle_new(LO_TT_IMMEDIATE);
  const lo_message note = lo_message_new(), tempo = lo_message_new(), bad = lo_message_new(), learn = lo_message_new();
  lo_message_add_int32(note, 67);
  lo_message_add_int32(note, 70);
  lo_message_add_int32(note, 2);
  lo_message_add_float(tempo, 96);
  lo_message_add_float(bad, 1);
  lo_message_add_string(learn, "density");
  lo_bundle_add_message(outer, "/nextbeat/note", note);
  lo_bundle_add_message(inner, "/nextbeat/tempo", tempo);
  lo_bundle_add_message(inner, "/nextbeat/tempo", bad);
  lo_bundle_add_bundle(outer, inner);
  lo_bundle_add_message(outer, "/nextbeat/learn", learn);
  CHECK(lo_send_bundle(to, outer) > 0);
  lo_bundle_free_recursive(outer);
  lo_address_free(to);

  const auto events = wait_events(hub, 3);
  REQUIRE(events.size() == 3);
  CHECK(events[0].kind == InputKind::kNoteOn);
  CHECK(events[0].channel == 1);
  CHECK(events[1].kind == InputKind::kControl);
  CHECK(events[1].value == 96);
  CHECK(events[2].kind == InputKind::kLearn);
  CHECK(events[2].control == control_id(config::Control::kDensity));
  CHECK(dump.wait_for("\"/nextbeat/tempo: expected a number in 20..400, got 1\""));

  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/model", "s", "default:pianoroll"}) == 0);
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/status"}) == 0);
  REQUIRE(oscsend(dir, server.port(), {"/nextbeat/save"}) == 0);
  REQUIRE(requests.wait_for(3));
  CHECK(requests.calls() == std::vector<std::string>{"model default:pianoroll", "status", "save"});
  CHECK(server.counters().received == 7);
  CHECK(server.counters().refused == 1);
}

TEST_CASE("osc server: a port in use is an error naming it, and stop is quick", "[integration]") {
  engine::InputHub hub;
  FakeRequests requests;
  config::OscConfig config = loopback_config(free_udp_port());
  io::OscServer first(config, hub, requests);
  config.port = first.port();
  try {
    io::OscServer second(config, hub, requests);
    FAIL("a second server bound the same port");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(first.port())));
  }
  config.bind = "localhost";
  CHECK_THROWS_WITH(io::OscServer(config, hub, requests), "osc.bind: expected an IP address, got \"localhost\"");

  // The failed constructors released their hub slots: every other slot can be claimed.
  std::size_t free_slots = 0;
  std::vector<std::size_t> claimed;
  while (const auto slot = hub.claim()) {
    claimed.push_back(*slot);
    ++free_slots;
  }
  CHECK(free_slots == engine::InputHub::kSlots - 2);  // the control slot and the first server's
  for (const std::size_t slot : claimed) hub.release(slot);

  const auto start = std::chrono::steady_clock::now();
  first.stop();
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  first.stop();  // idempotent
}

TEST_CASE("osc server: IPv6 and dual stack", "[integration]") {
  require_tools({"oscsend"}, "liblo-tools");
  engine::InputHub hub;
  FakeRequests requests;
  config::OscConfig config = loopback_config(free_udp_port());
  config.bind = "::";  // dual stack: IPv4 senders arrive IPv4-mapped and match "127.0.0.1"
  std::unique_ptr<io::OscServer> server;
  try {
    server = std::make_unique<io::OscServer>(config, hub, requests);
  } catch (const std::runtime_error& e) {
    test::skip_test(std::string("no IPv6 here: ") + e.what());
  }
  CHECK(server->description() == "OSC in on [::]:" + std::to_string(server->port()) + " (from 127.0.0.1)");
  TempDirectory dir("nextbeat-osctest");
  REQUIRE(oscsend(dir, server->port(), {"/nextbeat/tempo", "f", "100"}) == 0);
  const auto events = wait_events(hub, 1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].value == 100);
}

TEST_CASE("osc server: IPv6 entries of the allow list admit their sender and no other", "[integration]") {
  require_tools({"oscsend"}, "liblo-tools");
  engine::InputHub hub;
  FakeRequests requests;
  config::OscConfig config = loopback_config(free_udp_port());
  config.bind = "::";
  config.reply_host = "::1";
  config.allow = {"::1"};  // IPv6 loopback only: 127.0.0.1 (IPv4-mapped) is someone else
  std::unique_ptr<io::OscServer> server;
  try {
    server = std::make_unique<io::OscServer>(config, hub, requests);
  } catch (const std::runtime_error& e) {
    test::skip_test(std::string("no IPv6 here: ") + e.what());
  }
  // Debian's oscsend cannot send over IPv6 ("Address family for hostname not
  // supported"): the datagram goes from a socket of the test's own.
  const int sock = ::socket(AF_INET6, SOCK_DGRAM, 0);
  REQUIRE(sock >= 0);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_port = htons(static_cast<std::uint16_t>(server->port()));
  to.sin6_addr = in6addr_loopback;
  const auto bytes = Msg("/nextbeat/tempo").f(100).bytes();
  const auto sent = ::sendto(sock, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  ::close(sock);
  REQUIRE(sent == static_cast<ssize_t>(bytes.size()));
  const auto events = wait_events(hub, 1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].value == 100);
  TempDirectory dir("nextbeat-osctest");
  REQUIRE(oscsend(dir, server->port(), {"/nextbeat/tempo", "f", "90"}) == 0);  // from 127.0.0.1
  CHECK(test::wait_until([&] { return server->counters().ignored == 1; }));
  CHECK(wait_events(hub, 1, std::chrono::milliseconds(300)).empty());
}

TEST_CASE("osc pd: a Pure Data patch plays notes to the server", "[integration]") {
  require_tools({"pd"}, "puredata-core");
  TempDirectory dir("nextbeat-osctest");
  engine::InputHub hub;
  FakeRequests requests;
  io::OscServer server(loopback_config(free_udp_port()), hub, requests);

  // osc_phrase.pd sends four notes with [oscformat -f iii nextbeat note] and
  // one with plain [oscformat nextbeat note] (floats), then quits.
  test::Child pd({"pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", NEXTBEAT_OSC_PHRASE_PD, "-send",
                  "nextbeat-port " + std::to_string(server.port())},
                 dir.path() / "pd.log");
  pd.close_stdin();
  const auto events = wait_events(hub, 5);
  INFO(test::read_file(dir.path() / "pd.log"));
  CHECK(pd.wait() == 0);
  REQUIRE(events.size() == 5);
  const auto note = [](const engine::InputEvent& e) {
    return std::to_string(static_cast<int>(e.kind)) + " " + std::to_string(e.a) + " " + std::to_string(e.b) + " " +
           std::to_string(e.channel);
  };
  const int on = static_cast<int>(InputKind::kNoteOn), off = static_cast<int>(InputKind::kNoteOff);
  CHECK(note(events[0]) == std::to_string(on) + " 60 100 0");
  CHECK(note(events[1]) == std::to_string(on) + " 64 90 1");
  CHECK(note(events[2]) == std::to_string(off) + " 60 0 0");
  CHECK(note(events[3]) == std::to_string(off) + " 64 0 15");
  CHECK(note(events[4]) == std::to_string(on) + " 62 80 0");
  CHECK(server.counters().refused == 0);
}

TEST_CASE("osc pd: scripts/nextbeat-keys.pd plays its test phrase", "[integration]") {
  require_tools({"pd"}, "puredata-core");
  TempDirectory dir("nextbeat-osctest");
  engine::InputHub hub;
  FakeRequests requests;
  io::OscServer server(loopback_config(free_udp_port()), hub, requests);

  // The performer's patch, headless: another port, no reply listener, the demo on.
  test::Child pd(
      {"pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", NEXTBEAT_KEYS_PD, "-send",
       "nextbeat-port " + std::to_string(server.port()), "-send", "nextbeat-reply-port 0", "-send", "nextbeat-demo 1"},
      dir.path() / "pd.log");
  pd.close_stdin();
  // C D E F: on (at once) and off (200 ms later) every 250 ms.
  const auto events = wait_events(hub, 8);
  INFO(test::read_file(dir.path() / "pd.log"));
  REQUIRE(events.size() == 8);
  const int pitches[] = {60, 60, 62, 62, 64, 64, 65, 65};
  for (std::size_t i = 0; i < events.size(); ++i) {
    INFO(i);
    CHECK(events[i].kind == (i % 2 == 0 ? InputKind::kNoteOn : InputKind::kNoteOff));
    CHECK(events[i].a == pitches[i]);
    CHECK(events[i].channel == 0);
  }
  CHECK(server.counters().refused == 0);
  pd.terminate();  // the demo plays on until told
}

TEST_CASE("osc sender: notes, beats, errors and any message reach oscdump", "[integration]") {
  require_tools({"oscdump"}, "liblo-tools");
  TempDirectory dir("nextbeat-osctest");
  OscDump dump(dir);
  io::OscSender sender("127.0.0.1", dump.port());
  CHECK(sender.target() == "127.0.0.1:" + std::to_string(dump.port()));

  CHECK(sender.note(60, 100, 1));
  CHECK(sender.beat(17));
  CHECK(sender.error("/nextbeat/x: expected y, got z"));
  CHECK(sender.send("/nextbeat/temperature", {0.5f}));
  CHECK(sender.send("/nextbeat/mode", {std::string("accompany"), std::int32_t{2}}));
  CHECK(dump.wait_for("/nextbeat/out/note iii 60 100 1"));
  CHECK(dump.wait_for("/nextbeat/beat i 17"));
  CHECK(dump.wait_for("/nextbeat/error s \"/nextbeat/x: expected y, got z\""));
  CHECK(dump.wait_for("/nextbeat/temperature f 0.500000"));
  CHECK(dump.wait_for("/nextbeat/mode si \"accompany\" 2"));
  CHECK(sender.sent() == 5);
  CHECK(sender.failed() == 0);

  // Too big for liblo's UDP messages: counted, not thrown.
  CHECK_FALSE(sender.send("/nextbeat/error", {std::string(70000, 'x')}));
  CHECK(sender.failed() == 1);

  CHECK_THROWS_AS(io::OscSender("127.0.0.1", 0), std::invalid_argument);
  CHECK_THROWS_AS(io::OscSender("", 9001), std::invalid_argument);
}

TEST_CASE("osc sender: OscNoteOutput turns output events into OSC", "[integration]") {
  require_tools({"oscdump"}, "liblo-tools");
  TempDirectory dir("nextbeat-osctest");
  OscDump dump(dir);
  io::OscNoteOutput output("127.0.0.1", dump.port());
  engine::OutputSink& sink = output;

  engine::OutputEvent event;
  event.kind = engine::OutputKind::kNoteOn;
  event.pitch = 72;
  event.velocity = 88;
  event.channel = 2;
  sink.emit(event);
  event.kind = engine::OutputKind::kNoteOff;
  sink.emit(event);
  event.kind = engine::OutputKind::kProgram;  // no OSC form
  sink.emit(event);
  event.kind = engine::OutputKind::kBeat;
  event.beat = 5;
  sink.emit(event);

  CHECK(dump.wait_for("/nextbeat/beat i 5"));
  const std::string out = dump.output();
  const auto on = out.find("/nextbeat/out/note iii 72 88 3");
  const auto off = out.find("/nextbeat/out/note iii 72 0 3");
  CHECK(on != std::string::npos);
  CHECK(off != std::string::npos);
  CHECK(on < off);
  CHECK(output.sender().sent() == 3);
}
