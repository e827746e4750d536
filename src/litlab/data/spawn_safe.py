"""Data modules that survive ``ddp_spawn``, which pickles them into each device process."""

from __future__ import annotations

from typing import Any

import torch


class SpawnSafeGenerator:
    """Pickles ``self.generator`` (a CPU ``torch.Generator``) as the bytes of its state.

    torch.multiprocessing's pickler sends tensors through shared memory, and receiving a
    Generator's state that way fails here ("unable to resize file ... Invalid argument", torch
    2.14); plain bytes travel inside the pickle.
    """

    generator: torch.Generator

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["generator"] = self.generator.get_state().numpy().tobytes()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        generator = torch.Generator()
        generator.set_state(torch.frombuffer(bytearray(state.pop("generator")), dtype=torch.uint8))
        self.__dict__.update(state, generator=generator)
