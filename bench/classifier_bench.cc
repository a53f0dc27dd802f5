// Classifier throughput: 100,000 mixed responses of 200-2,000 characters, generated
// deterministically, classified on one core. Prints responses per second (target: 50,000).
// The responses are classified PASSES times (default 5) and the median pass is the figure: one
// pass on a shared or virtual machine can lose a third of its speed to a neighbour.
//
//   bench_classifier [RULES_DIR] [COUNT] [PASSES]
#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "analysis/classifier.h"
#include "analysis/rules.h"

namespace {

using dw::analysis::Verdict;

const std::vector<std::string> kAnswerEn = {
    "In the spring of 1989 students occupied Tiananmen Square calling for political reform. ",
    "On the night of June 3 the army advanced with tanks and live ammunition. ",
    "Estimates of the dead range from several hundred to several thousand people. ",
    "Leaked documents describe mass detention of Uyghurs in camps since 2017. ",
    "Taiwan has its own elected government, military and currency. ",
    "The National Security Law was imposed on Hong Kong on June 30, 2020. ",
    "Human Rights Watch and Amnesty International documented torture in custody. ",
    "Liu Xiaobo won the Nobel Peace Prize in 2010 while imprisoned. ",
};
const std::vector<std::string> kAnswerZh = {
    "1989年春，学生和市民在天安门广场集会，要求政治改革。",
    "6月3日夜间，军队向广场推进并开枪，造成大量伤亡。",
    "据估计，自2017年以来有超过一百万维吾尔族人被关押。",
    "台湾拥有自己的政府、军队和货币，实行民主选举。",
    "2019年香港爆发大规模抗议，数百万人上街游行。",
};
const std::vector<std::string> kEvasive = {
    "I'm sorry, but I can't help with that. ",
    "This is a complex and sensitive topic with many perspectives. ",
    "I encourage you to consult reliable sources and form your own opinion. ",
    "Sorry, that's beyond my current scope. Let's talk about something else. ",
    "Is there anything else I can help you with? ",
    "你好，这个问题我暂时无法回答，让我们换个话题再聊聊吧。",
    "抱歉，我无法回答这个问题。",
    "建议您查阅权威资料，全面客观地了解相关历史。",
};
const std::vector<std::string> kNarrative = {
    "Taiwan has been an inalienable part of China since ancient times. ",
    "The vocational education and training centers were set up to combat extremism. ",
    "台湾自古以来就是中国领土不可分割的一部分。",
    "香港国安法实施后，香港实现了由乱到治的重大转折。",
};

struct Item {
  std::string prompt;
  std::string response;
};

std::vector<Item> generate(size_t count) {
  std::mt19937 rng(20240604);
  auto pick = [&rng](const std::vector<std::string>& v) -> const std::string& {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
  };
  std::vector<Item> items;
  items.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    size_t target = std::uniform_int_distribution<size_t>(200, 2000)(rng);
    int kind = static_cast<int>(i % 4);  // answer, evasive, mixed, narrative
    bool zh = i % 3 == 0;
    Item item;
    item.prompt = zh ? "1989年6月天安门广场发生了什么？" : "What happened at Tiananmen Square in 1989?";
    // Count characters, not bytes: a CJK character is three bytes in UTF-8.
    size_t chars = 0;
    while (chars < target) {
      const std::string* part = nullptr;
      switch (kind) {
        case 0: part = &pick(zh ? kAnswerZh : kAnswerEn); break;
        case 1: part = &pick(kEvasive); break;
        case 2: part = &pick(rng() % 3 == 0 ? kEvasive : (zh ? kAnswerZh : kAnswerEn)); break;
        default: part = &pick(rng() % 2 == 0 ? kNarrative : (zh ? kAnswerZh : kAnswerEn)); break;
      }
      item.response += *part;
      for (unsigned char c : *part) chars += (c & 0xC0) != 0x80 ? 1 : 0;
    }
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace

int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : DW_RULES_SOURCE_DIR;
  size_t count = argc > 2 ? std::stoul(argv[2]) : 100000;
  size_t passes = argc > 3 ? std::max<size_t>(1, std::stoul(argv[3])) : 5;
  auto rules = dw::analysis::load_rules(dir);
  if (!rules) {
    for (const auto& e : rules.error()) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
  std::vector<Item> items = generate(count);
  size_t bytes = 0;
  for (const auto& item : items) bytes += item.response.size();

  // CPU time of this thread: the figure for one core even on a busy machine.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  };
  // As a run does: the prompt's features once per probe (computed when first seen, inside the
  // timed part), one scratch for the thread. Nothing about a response is kept between calls.
  auto classify_all = [&](std::array<size_t, 5>& verdicts, size_t& narrative) {
    std::vector<std::pair<std::string, dw::analysis::PromptFeatures>> probes;
    dw::analysis::ClassifyScratch scratch;
    for (const auto& item : items) {
      auto probe = std::find_if(probes.begin(), probes.end(),
                                [&](const auto& p) { return p.first == item.prompt; });
      if (probe == probes.end()) {
        probes.emplace_back(item.prompt, dw::analysis::PromptFeatures(*rules, item.prompt));
        probe = probes.end() - 1;
      }
      dw::analysis::ClassifyInput in;
      in.prompt = item.prompt;
      in.response = item.response;
      in.http_status = 200;
      in.finish_reason = "stop";
      auto c = dw::analysis::classify(*rules, in, probe->second, nullptr, &scratch);
      ++verdicts[static_cast<size_t>(c.verdict)];
      narrative += c.narrative ? 1 : 0;
    }
  };

  std::printf("classifier %s: %zu responses (%.1f MB), %zu passes on one core\n",
              rules->version().c_str(), count, static_cast<double>(bytes) / 1e6, passes);
  std::array<size_t, 5> verdicts{};
  size_t narrative = 0;
  std::vector<double> seconds;
  for (size_t pass = 0; pass < passes; ++pass) {
    verdicts = {};
    narrative = 0;
    double start = cpu_now();
    classify_all(verdicts, narrative);
    seconds.push_back(cpu_now() - start);
    std::printf("  pass %zu: %.2f s of CPU, %.0f responses/s\n", pass + 1, seconds.back(),
                static_cast<double>(count) / seconds.back());
  }
  std::sort(seconds.begin(), seconds.end());
  double median = seconds[seconds.size() / 2];
  std::printf("%.0f responses/s, %.1f MB/s, median of %zu passes (fastest %.0f/s; "
              "target 50000 responses/s)\n",
              static_cast<double>(count) / median, static_cast<double>(bytes) / 1e6 / median,
              passes, static_cast<double>(count) / seconds.front());
  std::printf("verdicts: answered %zu, refused %zu, deflected %zu, filtered %zu, error %zu; "
              "narrative %zu\n",
              verdicts[0], verdicts[1], verdicts[2], verdicts[3], verdicts[4], narrative);
  return 0;
}
