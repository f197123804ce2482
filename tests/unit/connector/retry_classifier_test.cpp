#include "connector/http/retry_classifier.h"

#include <gtest/gtest.h>

namespace tandem::connector::http {
namespace {

Result<HttpResponse> Answer(int status) {
  HttpResponse r;
  r.status = status;
  return r;
}

TEST(RetryClassifier, MapsEveryOutcomeToOneAction) {
  struct Row {
    Result<HttpResponse> result;
    Action want;
  };
  const std::vector<Row> table = {
      {Answer(200), Action::kOk},
      {Answer(201), Action::kOk},
      {Answer(204), Action::kOk},
      {Answer(300), Action::kOk},
      {Answer(400), Action::kFail},
      {Answer(401), Action::kRefreshAuthThenRetry},
      {Answer(403), Action::kFail},
      {Answer(404), Action::kFail},
      {Answer(408), Action::kRetry},
      {Answer(409), Action::kFail},
      {Answer(429), Action::kRateLimited},
      {Answer(500), Action::kFail},
      {Answer(502), Action::kRetry},
      {Answer(503), Action::kRetry},
      {Answer(504), Action::kRetry},
      {Result<HttpResponse>(Status::Unavailable("connection reset")), Action::kRetry},
      {Result<HttpResponse>(Status::Timeout("no answer")), Action::kRetry},
      {Result<HttpResponse>(Status::InvalidArgument("bad url")), Action::kFail},
  };
  for (size_t i = 0; i < table.size(); ++i)
    EXPECT_EQ(DefaultClassify(table[i].result), table[i].want) << "row " << i;
}

TEST(RetryAfter, ParsesDelaySeconds) {
  const WallTime now = FromEpochMillis(0);
  EXPECT_EQ(ParseRetryAfter("2", now), Millis(2000));
  EXPECT_EQ(ParseRetryAfter(" 120 ", now), Millis(120000));
  EXPECT_EQ(ParseRetryAfter("0", now), Millis(0));
}

TEST(RetryAfter, ParsesAllThreeHttpDateForms) {
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
  const WallTime now = FromEpochMillis(784111777000 - 5000);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), Millis(5000));
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now), Millis(5000));
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:37 1994", now), Millis(5000));
}

TEST(RetryAfter, DateInThePastMeansNow) {
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", FromEpochMillis(900000000000)),
            Millis(0));
}

TEST(RetryAfter, RejectsGarbage) {
  const WallTime now = FromEpochMillis(0);
  EXPECT_FALSE(ParseRetryAfter("", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("soon", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("-3", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("1.5", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("99999999999999", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT trailing", now).has_value());
}

TEST(RetrySafety, OnlyIdempotentMethodsOrKeyedPostsAreRetrySafe) {
  HttpRequest get;
  get.method = "GET";
  EXPECT_TRUE(IsRetrySafe(get));
  HttpRequest post;
  post.method = "POST";
  EXPECT_FALSE(IsRetrySafe(post));
  SetHeader(post.headers, "idempotency-key", "k1");
  EXPECT_TRUE(IsRetrySafe(post));
  HttpRequest patch;
  patch.method = "PATCH";
  EXPECT_FALSE(IsRetrySafe(patch));
  patch.idempotent = true;
  EXPECT_TRUE(IsRetrySafe(patch));
}

}  // namespace
}  // namespace tandem::connector::http
