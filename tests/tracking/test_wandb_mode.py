"""W&B goes online only with a key or an explicit request."""

from tunnellab.tracking.wandb_mode import resolve_wandb_mode, wandb_api_key_configured


def test_no_key_means_offline(tmp_path):
    env = {"NETRC": str(tmp_path / "missing")}
    assert not wandb_api_key_configured(env)
    assert resolve_wandb_mode("auto", env) == "offline"


def test_api_key_env_means_online(tmp_path):
    env = {"WANDB_API_KEY": "x" * 40, "NETRC": str(tmp_path / "missing")}
    assert resolve_wandb_mode("auto", env) == "online"


def test_netrc_login_means_online(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    assert resolve_wandb_mode("auto", {"NETRC": str(netrc)}) == "online"


def test_explicit_choices_win(tmp_path):
    env = {"WANDB_API_KEY": "x" * 40, "WANDB_MODE": "disabled"}
    assert resolve_wandb_mode("auto", env) == "disabled"
    assert resolve_wandb_mode("offline", env) == "offline"
    assert resolve_wandb_mode("online", {}) == "online"
