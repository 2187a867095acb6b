#include "common/quote.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace nn {
namespace {

TEST(QuoteTest, ShortValuesAreQuotedWholeAndEscaped) {
  EXPECT_EQ(Quote("mnist"), "'mnist'");
  EXPECT_EQ(Quote(std::string("a\0\n", 3)), "'a\\x00\\n'");
  EXPECT_EQ(Quote(std::string(64, 'x')), "'" + std::string(64, 'x') + "'");
}

TEST(QuoteTest, LongValuesKeepAPrefixAndTheirLength) {
  EXPECT_EQ(Quote(std::string(65, 'x')),
            "'" + std::string(64, 'x') + "...' (65 bytes)");
  EXPECT_EQ(Quote("abcdef", 2), "'ab...' (6 bytes)");
  EXPECT_EQ(DoubleQuote("abcdef", 2), "\"ab...\" (6 bytes)");
  EXPECT_EQ(DoubleQuote("a\"b"), "\"a\\\"b\"");
}

TEST(QuoteTest, TheWorstCaseIsBoundedWhateverTheInput) {
  // Every byte escapes to 4 characters: 64 * 4 plus the suffix.
  const std::string quoted = Quote(std::string(1 << 20, '\x01'));
  EXPECT_LT(quoted.size(), 300u);
}

TEST(QuoteListTest, ShortListsAreJoinedWhole) {
  EXPECT_EQ(QuoteList(std::vector<int64_t>{1, 28, 28}), "1,28,28");
  EXPECT_EQ(QuoteList(std::vector<int64_t>{}), "");
}

TEST(QuoteListTest, LongListsKeepAPrefixAndTheirLength) {
  const std::vector<int64_t> shape(20000, -9223372036854775807);
  const std::string quoted = QuoteList(shape);
  EXPECT_LT(quoted.size(), 200u);
  EXPECT_NE(quoted.find("(20000 values)"), std::string::npos) << quoted;
  EXPECT_EQ(QuoteList(std::vector<int64_t>{1, 2, 3}, 2), "1,2,... (3 values)");
}

}  // namespace
}  // namespace nn
