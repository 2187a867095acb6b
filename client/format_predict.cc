// format.h's `predict` renderings, text and JSON.
#include "client/format.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/json_writer.h"

namespace nn {
namespace {

namespace v1 = ::nnserve::v1;

int CorrectCount(absl::Span<const PredictedImage> images, int* labelled) {
  int correct = 0;
  *labelled = 0;
  for (const PredictedImage& image : images) {
    if (image.input->label < 0) continue;
    ++*labelled;
    if (image.prediction->class_index() == image.input->label) ++correct;
  }
  return correct;
}


}  // namespace

std::string FormatPredictionsText(absl::Span<const PredictedImage> images,
                                  absl::string_view model,
                                  absl::Span<const int64_t> versions) {
  bool any_label = false;
  bool any_top_k = false;
  size_t source_width = 6;
  for (const PredictedImage& image : images) {
    any_label |= image.input->label >= 0;
    any_top_k |= image.prediction->top_k_size() > 0;
    source_width = std::max(source_width, image.input->source.size());
  }
  source_width = std::min<size_t>(source_width, 60);
  std::string out = absl::StrFormat("%-*s  %5s  %-14s  %10s", source_width,
                                    "SOURCE", "CLASS", "LABEL", "CONFIDENCE");
  if (any_label) absl::StrAppend(&out, "  EXPECTED");
  if (any_top_k) absl::StrAppend(&out, "  TOP_K");
  absl::StrAppend(&out, "\n");
  for (const PredictedImage& image : images) {
    const v1::Prediction& p = *image.prediction;
    absl::StrAppendFormat(&out, "%-*s  %5d  %-14s  %10.4f", source_width,
                          image.input->source, p.class_index(), p.label(),
                          p.confidence());
    if (any_label) {
      if (image.input->label < 0) {
        absl::StrAppend(&out, "  -       ");
      } else {
        absl::StrAppendFormat(
            &out, "  %-8s",
            absl::StrCat(image.input->label,
                         image.input->label == p.class_index() ? "" : " (!)"));
      }
    }
    if (any_top_k) {
      std::vector<std::string> top;
      for (const v1::ClassScore& score : p.top_k()) {
        top.push_back(absl::StrFormat("%s:%.4f", score.label().empty()
                                                     ? absl::StrCat(
                                                           score.class_index())
                                                     : score.label(),
                                      score.probability()));
      }
      absl::StrAppend(&out, "  ", absl::StrJoin(top, " "));
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "model ", model, " version",
                  versions.size() > 1 ? "s " : " ",
                  absl::StrJoin(versions, ","), ", ", images.size(),
                  images.size() == 1 ? " image" : " images");
  int labelled = 0;
  const int correct = CorrectCount(images, &labelled);
  if (labelled > 0) {
    absl::StrAppendFormat(&out, ", accuracy %.4f (%d/%d)",
                          static_cast<double>(correct) / labelled, correct,
                          labelled);
  }
  absl::StrAppend(&out, "\n");
  return out;
}

std::string FormatPredictionsJson(absl::Span<const PredictedImage> images,
                                  absl::string_view model,
                                  absl::Span<const int64_t> versions) {
  JsonWriter json;
  json.BeginObject().Key("model").String(model).Key("versions").BeginArray();
  for (int64_t version : versions) json.Int(version);
  json.EndArray().Key("predictions").BeginArray();
  for (const PredictedImage& image : images) {
    const v1::Prediction& p = *image.prediction;
    json.BeginObject()
        .Key("source")
        .String(image.input->source)
        .Key("class_index")
        .Int(p.class_index())
        .Key("label")
        .String(p.label())
        .Key("confidence")
        .Float(p.confidence())
        .Key("probabilities")
        .BeginArray();
    for (float probability : p.probabilities()) json.Float(probability);
    json.EndArray();
    if (p.top_k_size() > 0) {
      json.Key("top_k").BeginArray();
      for (const v1::ClassScore& score : p.top_k()) {
        json.BeginObject()
            .Key("class_index")
            .Int(score.class_index())
            .Key("label")
            .String(score.label())
            .Key("probability")
            .Float(score.probability())
            .EndObject();
      }
      json.EndArray();
    }
    if (image.input->label >= 0) {
      json.Key("expected").Int(image.input->label);
      json.Key("correct").Bool(image.input->label == p.class_index());
    }
    json.EndObject();
  }
  json.EndArray();
  int labelled = 0;
  const int correct = CorrectCount(images, &labelled);
  if (labelled > 0) {
    json.Key("accuracy")
        .BeginObject()
        .Key("correct")
        .Int(correct)
        .Key("total")
        .Int(labelled)
        .Key("value")
        .Number(static_cast<double>(correct) / labelled)
        .EndObject();
  }
  json.EndObject();
  return json.str();
}

}  // namespace nn
