"""A local DocuSign: JWT grant, eSignature REST v2.1 envelopes and documents, signed Connect callbacks."""

from infra.docusign_sim.control import SimulatorControl, SimulatorControlError
from infra.docusign_sim.server import Simulator

__all__ = ["Simulator", "SimulatorControl", "SimulatorControlError"]
