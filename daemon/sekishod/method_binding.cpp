#include "daemon/sekishod/method_binding.hpp"

namespace sekisho::daemon {

void answer_later(BackgroundJob& job, const std::string& key, BackgroundJob::Prepare prepare,
                  const control::ControlServer::Later& later) {
  job.request(key, std::move(prepare),
              [later](const nlohmann::json& result, std::exception_ptr error) {
                if (error) {
                  later.fail(error);
                } else {
                  later.ok(result);
                }
              });
}

}  // namespace sekisho::daemon
