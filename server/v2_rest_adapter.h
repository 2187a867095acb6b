// PROVISIONAL: the few model lookups the /v2 REST endpoints need, until the
// protocol-independent V2 adapter (server/v2_serving.h, branch i-v2grpc)
// is merged; then this file goes and v2_rest_service.cc calls that one.
#ifndef NNSERVE_SERVER_V2_REST_ADAPTER_H_
#define NNSERVE_SERVER_V2_REST_ADAPTER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/model_repository.h"
#include "server/servable.h"
#include "server/v2/metadata.h"

namespace nn::v2rest {

// The servable a V2 (model, version string) names: "" is the newest; a
// version that is not a positive decimal number is NOT_FOUND like an
// unknown one.
absl::StatusOr<std::shared_ptr<ServableVersion>> ResolveV2(
    const ModelRepository& repository, const std::string& model,
    const std::string& version);

// What metadata and config answers say of `servable`'s model.
v2::ModelDescription DescribeV2(const ModelRepository& repository,
                                const ServableVersion& servable);

}  // namespace nn::v2rest

#endif  // NNSERVE_SERVER_V2_REST_ADAPTER_H_
