<?xml version="1.0" encoding="utf-8" ?>
<ogr:FeatureCollection
     gml:id="aFeatureCollection"
     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xmlns:ogr="http://ogr.maptools.org/"
     xmlns:gml="http://www.opengis.net/gml/3.2">
  <ogr:featureMember>
    <ogr:parcel gml:id="parcel.1">
      <ogr:geometryProperty><gml:Polygon gml:id="parcel.geom.1" srsName="urn:ogc:def:crs:EPSG::4490"><gml:exterior><gml:LinearRing><gml:posList srsDimension="2">36.649546298810485 117.03361160742013 36.649650668262844 117.0364611782482 36.64882700726977 117.03797696068492 36.6474263186833 117.03757647859811 36.64729773237731 117.03489108847593 36.64806645688445 117.03344042127438 36.649546298810485 117.03361160742013</gml:posList></gml:LinearRing></gml:exterior><gml:interior><gml:LinearRing><gml:posList srsDimension="2">36.64882379704187 117.03522727472217 36.64819300210774 117.03522698742977 36.64819273418181 117.03612164091969 36.64882352910981 117.0361219355084 36.64882379704187 117.03522727472217</gml:posList></gml:LinearRing></gml:interior></gml:Polygon></ogr:geometryProperty>
      <ogr:DKBH>2024-01</ogr:DKBH>
      <ogr:DKMC>示例地块一</ogr:DKMC>
      <ogr:DKYT>商服用地</ogr:DKYT>
      <ogr:DKMJ>8.0676</ogr:DKMJ>
    </ogr:parcel>
  </ogr:featureMember>
  <ogr:featureMember>
    <ogr:parcel gml:id="parcel.2">
      <ogr:geometryProperty><gml:Polygon gml:id="parcel.geom.2" srsName="urn:ogc:def:crs:EPSG::4490"><gml:exterior><gml:LinearRing><gml:posList srsDimension="2">36.650804999364986 117.03936608979699 36.65085185598719 117.04071373196139 36.65018049300864 117.04076370410294 36.65012465977096 117.03931262212583 36.650804999364986 117.03936608979699</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></ogr:geometryProperty>
      <ogr:DKBH>2024-02</ogr:DKBH>
      <ogr:DKMC>示例地块二</ogr:DKMC>
      <ogr:DKYT>公路用地</ogr:DKYT>
      <ogr:DKMJ>0.9384</ogr:DKMJ>
    </ogr:parcel>
  </ogr:featureMember>
</ogr:FeatureCollection>
