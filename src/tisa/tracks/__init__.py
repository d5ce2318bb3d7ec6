"""Missile tracks: the model nations exchange, and the pure computation behind it.

Pure like `tisa.domain`: no framework, no I/O, no clock reads (every time is passed in, as
integer milliseconds since the Unix epoch, UTC). Positions and velocities are WGS-84 ECEF
(Earth-centred, Earth-fixed: metres and metres per second in the rotating frame).

    earth        WGS-84 constants, gravity with J2, the rotating frame, the atmosphere
    track        the exchanged model: TrackUpdate, TrackStream, flight phase, impact point
    ballistics   missile profiles and truth trajectories (boost, drag, Earth rotation)
    impact       instantaneous impact point (IIP) and its error ellipse from a track
    sites        DPRK launch sites and allied radar sites (public, approximate)
    sensors      radars: horizon, range, noise; what each nation's network measures
    tracker      one nation's tracker (an EKF) turning its plots into TrackUpdates
    association  which nations' tracks are the same missile (gating and assignment)
    fusion       covariance intersection of associated tracks
    scenario     a launch or salvo, every nation's tracks, the fused picture, the truth
    scoring      first detection, position error and IIP error against truth
    areas        each nation's warning areas: territory and approximate EEZ (shapely)
    warning      whether an IIP's error ellipse threatens an area; a nation's warnings
"""
