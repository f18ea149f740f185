"""Device: the MiniLM weights (88 MB) cannot travel, so prompt embeddings recorded here stand in for them."""
import runpy, sys, torch
from pathlib import Path
sys.path.insert(0, ".")
import engine.diffusion.text as text
bundle = Path(sys.argv[1])
lookup = torch.load(bundle / "minilm_lookup.pt")
text.model_dir = lambda: bundle / "minilm"
class _NoModel:
    def __init__(self, folder, device): pass
text.MiniLM = _NoModel
def _forward(self, id_lists):
    return [text.EncodedPrompt(tokens=lookup[tuple(ids)][0].clone().to(self.device),
                               pooled=lookup[tuple(ids)][1].clone().to(self.device)) for ids in id_lists]
text.PromptEncoder._forward = _forward
sys.argv = ["benchmarks/latency.py"] + sys.argv[2:]
runpy.run_path("benchmarks/latency.py", run_name="__main__")
