// The two LstmModel members that the codecs' rollout templates (engine/codec/*Rollout.h) name, for the fuzz
// targets, which link the codecs but not LibTorch (Model.cpp is a LibTorch translation unit). No parser steps
// a model: reaching one of these is a bug, so it traps.
#include "engine/model/Model.h"

namespace nextbeat::engine {

std::span<const float> LstmModel::logits() const {
  __builtin_trap();
}

std::span<const float> LstmModel::nade_weights() const {
  __builtin_trap();
}

}  // namespace nextbeat::engine
