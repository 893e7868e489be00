"""Watch a trained policy: episodes in one env, their returns, and a picture of the behaviour.

``episodes(trained, n)`` drives one env the way a user deploys a policy: a Python loop over
``trained.act(obs, state)`` (greedy unless ``sample``), the normalisation state carried across
episodes as in the evaluation. ``write(path, frames)`` renders what it kept, headless and with
PyPI packages only:

- brax envs: ``.html``, brax's own three.js viewer (``brax.io.html``; open it in a browser);
  ``.gif``/``.mp4`` through ``brax.io.image`` need MuJoCo's OpenGL renderer (``MUJOCO_GL=egl`` or
  ``osmesa``), tried only when asked for and refused with a message where none is present;
- MinAtar envs (and Pong-misc): ``.gif``, the observation frames themselves (one colour per
  channel, upscaled), encoded by imageio;
- classic control (CartPole, Acrobot, Pendulum, MountainCar): ``.gif``/``.mp4`` drawn by
  Gymnasium's own renderer from the gymnax state (gymnax's ``vis_gym`` adapters), which needs
  pygame: ``pip install "hades-zoo[render]"``. It runs headless (SDL's dummy drivers).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

from hades_zoo.agent import TrainedPolicy
from hades_zoo.errors import ConfigError, MissingDependencyError
from hades_zoo.tasks import get_task

# MinAtar channels in a fixed palette (black background), like MinAtar's own display.
_PALETTE = np.array([[0, 0, 0], [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66], [0, 114, 178],
                     [213, 94, 0], [204, 121, 167], [200, 200, 200], [120, 120, 120], [255, 255, 255]], np.uint8)
# the gymnax classic-control envs Gymnasium can draw (gymnax.visualize.vis_gym.SUPPORTED_GYM_ENVS)
_CLASSIC = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0")


def episodes(trained: TrainedPolicy, n: int = 1, *, seed: int = 0, index: int = 0, sample: bool = False,
             keep: int = 0) -> tuple[list[float], list]:
    """Run ``n`` episodes of seed ``index`` in one env; returns ``(returns, frames)`` where
    ``frames`` holds what ``write`` draws for the first ``keep`` steps."""
    if not get_task(trained.task).acts_in_env:
        raise ConfigError(f"{trained.env_id} is an image task: there is no env to roll out")
    env = trained.env()
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    act = jax.jit(lambda obs, state, key: trained.act(obs, state, key=key if sample else None, index=index))
    key = jax.random.PRNGKey(seed)
    key, key_reset = jax.random.split(key)
    obs, env_state = reset(key_reset)
    state = trained.reset_state(index)
    returns, ep_ret, frames = [], 0.0, []
    brax, classic = env.spec.family == "brax", _is_classic(env.spec)
    for t in range(n * env.spec.episode_length):
        if t < keep:
            if brax:
                frames.append(env_state.pipeline_state)
            elif classic:
                frames.append(jax.device_get(env_state))
            else:
                frames.append(np.asarray(obs).reshape(env.spec.obs_shape))
        key, key_act, key_env = jax.random.split(key, 3)
        action, state = act(obs, state, key_act)
        obs, env_state, reward, done = step(key_env, env_state, action)
        ep_ret += float(reward)
        if bool(done):
            returns.append(ep_ret)
            ep_ret = 0.0
            if len(returns) == n:
                break
    return returns, frames


def write(trained: TrainedPolicy, path: str | Path, frames: list, *, fps: int = 30) -> Path:
    """Render ``frames`` (from ``episodes``) to ``path``: ``.html`` (brax) or ``.gif`` / ``.mp4``."""
    path = Path(path)
    suffix = path.suffix.lower()
    spec = trained.spec
    if not frames:
        raise ConfigError("no frames to render; run at least one step")
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.family == "brax":
        sys_ = trained.env().upstream.sys
        if suffix == ".html":
            from brax.io import html  # brax's viewer (seconds to import): loaded when an .html is drawn

            path.write_text(html.render(sys_, frames))
            return path
        if suffix not in (".gif", ".mp4"):
            raise ConfigError(f"{path}: brax envs render to .html (brax's viewer) or .gif/.mp4; pick one of those")
        try:
            from brax.io import image  # brax's renderer (needs OpenGL): loaded when a brax frame is drawn

            images = image.render_array(sys_, frames, 320, 240)
        except Exception as e:  # noqa: BLE001 - no OpenGL context: mujoco raises several kinds
            raise MissingDependencyError(f"{path}: rendering {spec.env_id} frames needs MuJoCo's OpenGL renderer "
                                         f"({type(e).__name__}); set MUJOCO_GL=egl or osmesa, or write .html") from None
        return _encode(path, images, fps)
    if suffix not in (".gif", ".mp4"):
        raise ConfigError(f"{path}: {spec.env_id} renders to .gif or .mp4")
    if _is_classic(spec):
        return _encode(path, _classic_frames(trained.env(), frames), fps=50 if spec.env_id != "Pendulum-v1" else 20)
    if len(spec.obs_shape) != 3:
        raise ConfigError(f"rendering {spec.env_id} is not supported: --render draws brax, MinAtar and "
                          "classic-control envs")
    return _encode(path, [_minatar_frame(f) for f in frames], fps=10)


def can_gif(spec) -> bool:
    """Whether ``write`` can draw this env as a GIF here: MinAtar frames always; brax envs when
    MuJoCo has an OpenGL backend to render with (``MUJOCO_GL`` set: egl, osmesa or glfw);
    classic control when pygame is installed."""
    if spec.family == "brax":
        return bool(os.environ.get("MUJOCO_GL"))
    if _is_classic(spec):
        return importlib.util.find_spec("pygame") is not None
    return len(spec.obs_shape) == 3


def _is_classic(spec) -> bool:
    return spec.family == "gymnax" and spec.env_id in _CLASSIC


def _classic_frames(env, states: list) -> list[np.ndarray]:
    """Gymnasium's own drawing of each gymnax state: one headless Gymnasium env, its parameters
    and state set from ours through gymnax's adapters (``gymnax.visualize.vis_gym``)."""
    if importlib.util.find_spec("pygame") is None:
        raise MissingDependencyError(f"rendering {env.spec.env_id} needs pygame (Gymnasium's classic-control "
                                     "renderer); install it with: pip install \"hades-zoo[render]\"")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # headless: no window, no sound card
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    import gymnasium  # Gymnasium's renderer (pygame): loaded when a classic-control frame is drawn
    from gymnax.visualize import vis_gym

    name = env.spec.env_id
    gym_env = gymnasium.make(name, render_mode="rgb_array")
    try:
        gym_env.reset(seed=0)
        inner = gym_env.unwrapped
        vis_gym.set_gym_params(inner, name, env.params)
        images = []
        for state in states:
            inner.state = vis_gym.get_gym_state(state, name)
            if name == "Pendulum-v1":
                inner.last_u = np.asarray(state.last_u, dtype=np.float64)
            images.append(np.asarray(gym_env.render()))
        return images
    finally:
        gym_env.close()


def gif_bytes(trained: TrainedPolicy, *, seed: int = 0, frames: int = 300) -> bytes | None:
    """One episode of seed 0 as GIF bytes (``distill publish`` puts it on the card), or ``None``
    where no GIF can be drawn here: an env without frames to draw, or brax without OpenGL."""
    if not get_task(trained.task).acts_in_env or not can_gif(trained.spec):
        return None
    _, kept = episodes(trained, 1, seed=seed, sample=trained.protocol.sample_actions, keep=frames)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return write(trained, Path(tmp) / "rollout.gif", kept).read_bytes()
        except MissingDependencyError:
            return None


def _minatar_frame(obs: np.ndarray, scale: int = 16) -> np.ndarray:
    """One RGB image of a MinAtar observation (H, W, C): each cell takes its highest active channel's colour."""
    channels = obs.shape[-1]
    index = np.max((obs > 0.5) * np.arange(1, channels + 1), axis=-1)
    rgb = _PALETTE[1:][(index - 1) % (len(_PALETTE) - 1)]
    rgb[index == 0] = _PALETTE[0]
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def _encode(path: Path, images, fps: int) -> Path:
    import imageio.v3 as iio  # deferred for import speed: only a render needs it
    if path.suffix.lower() == ".gif":
        iio.imwrite(path, np.stack(images), duration=1000 / fps, loop=0)
    else:
        iio.imwrite(path, np.stack(images), fps=fps)
    return path
